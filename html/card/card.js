// The member's card page: talks to member_api (/api/) with the session of
// member_wechat_oauth (the member_session cookie) or, in the demo, with the
// bearer token of a demo login kept in sessionStorage.
import {
    $, ApiError, call, date, download, el, fields, money, show, texts, translate,
} from '../lib/util.js';

const t = texts({
    zh: {
        loading: '加载中…', brand: '会员卡',
        login_hint: '请从公众号菜单打开会员卡。', login_again: '登录未成功，请从公众号菜单重新打开。',
        demo_badge: '演示', demo_hint: '这是演示环境，没有微信：以新访客身份进入。',
        demo_login: '演示登录（新访客）',
        register_title: '开通会员卡', name: '姓名', phone: '手机号', birthday: '生日', gender: '性别',
        gender_none: '不填', female: '女', male: '男', other: '其他', privacy_title: '隐私政策',
        privacy_text: '我们保存您的姓名、手机号、生日和性别，只用于会员服务；加密保存，您可随时查看、导出或删除。',
        consent: '我已阅读并同意隐私政策', register: '开卡',
        need_name: '请填写姓名', need_phone: '请填写正确的手机号', need_consent: '请先同意隐私政策',
        points: '积分', balance: '余额', code_title: '会员码', tap_refresh: '点击刷新',
        refresh_in: '{s} 秒后刷新', show_digits: '显示数字', add_wallet: '添加到微信卡包', wallet_added: '已添加到卡包',
        tiers_title: '等级权益', tier_top: '您已是最高等级', tier_next: '本期消费 {spent}，再消费 {left} 升级为{name}',
        discount: '{d}折', no_discount: '原价', points_pct: '积分 {p}%',
        expiring_title: '即将过期的积分', expiring_none: '近期没有积分过期。',
        expiring_item: '{date} 过期',
        coupons_title: '优惠券', coupons_none: '暂无优惠券。', coupon_until: '有效期至 {date}',
        coupon_pct: '{d}折', coupon_min: '满 {m} 可用', coupon_pending: '未生效', coupon_used: '已使用',
        coupon_expired: '已过期',
        tx_title: '交易记录', tx_end: '没有更多了', tx_none: '还没有交易',
        recharge: '充值', pay: '消费', earn: '消费积分', refund: '退款', adjust: '积分调整',
        expire: '积分过期', redeem: '积分抵现', coupon: '优惠券', welcome: '开卡礼', birthday_gift: '生日礼',
        recall: '回归礼', referral: '推荐奖励', tier: '等级变更', points_unit: '{n} 积分',
        feedback_title: '意见反馈', rating: '评分', feedback_text: '您的意见', send: '提交',
        feedback_thanks: '谢谢您的反馈！', need_text: '请写下您的意见', answer: '回复：{a}',
        profile_title: '个人资料', save: '保存', saved: '已保存', export: '导出我的数据',
        delete: '删除我的数据', confirm_delete: '确定删除您的个人资料吗？余额和积分记录将匿名保留。',
        deleted: '您的个人资料已删除。', error: '出错了：{m}',
        normal: '普通会员', silver: '银卡', gold: '金卡', platinum: '白金卡',
    },
    en: {
        loading: 'Loading…', brand: 'Member card',
        login_hint: 'Please open the card from the official account menu.',
        login_again: 'Sign-in did not work; please open the card from the official account menu again.',
        demo_badge: 'DEMO', demo_hint: 'This is a demo without WeChat: enter as a new visitor.',
        demo_login: 'Demo sign-in (new visitor)',
        register_title: 'Get your member card', name: 'Name', phone: 'Mobile number',
        birthday: 'Birthday', gender: 'Gender', gender_none: 'Prefer not to say', female: 'Female',
        male: 'Male', other: 'Other', privacy_title: 'Privacy policy',
        privacy_text: 'We keep your name, mobile number, birthday and gender for the membership only, '
            + 'encrypted; you can see, export or delete them at any time.',
        consent: 'I have read and agree to the privacy policy', register: 'Join',
        need_name: 'Please enter your name', need_phone: 'Please enter a valid mobile number',
        need_consent: 'Please agree to the privacy policy first',
        points: 'Points', balance: 'Balance', code_title: 'Member code', tap_refresh: 'Tap to refresh',
        refresh_in: 'Refreshes in {s} s', show_digits: 'Show digits', add_wallet: 'Add to WeChat wallet', wallet_added: 'Added',
        tiers_title: 'Tiers and benefits', tier_top: 'You are at the top tier',
        tier_next: 'Spent {spent} this period; {left} more to reach {name}',
        discount: '{p}% off', no_discount: 'full price', points_pct: 'points ×{x}',
        expiring_title: 'Points expiring soon', expiring_none: 'No points expire soon.',
        expiring_item: 'expire {date}',
        coupons_title: 'Coupons', coupons_none: 'No coupons yet.', coupon_until: 'valid until {date}',
        coupon_pct: '{p}% off', coupon_min: 'on {m} or more', coupon_pending: 'not yet valid',
        coupon_used: 'used', coupon_expired: 'expired',
        tx_title: 'Transactions', tx_end: 'No more', tx_none: 'No transactions yet',
        recharge: 'Top-up', pay: 'Purchase', earn: 'Purchase (points)', refund: 'Refund',
        adjust: 'Points adjustment', expire: 'Points expired', redeem: 'Points redeemed',
        coupon: 'Coupon', welcome: 'Welcome gift', birthday_gift: 'Birthday gift', recall: 'Welcome back',
        referral: 'Referral reward', tier: 'Tier change', points_unit: '{n} pts',
        feedback_title: 'Feedback', rating: 'Rating', feedback_text: 'Your feedback', send: 'Send',
        feedback_thanks: 'Thank you for your feedback!', need_text: 'Please write something',
        answer: 'Reply: {a}',
        profile_title: 'Profile', save: 'Save', saved: 'Saved', export: 'Export my data',
        delete: 'Delete my data',
        confirm_delete: 'Delete your personal data? Balances and the ledger stay, anonymised.',
        deleted: 'Your personal data has been deleted.', error: 'Something went wrong: {m}',
        normal: 'Member', silver: 'Silver', gold: 'Gold', platinum: 'Platinum',
    },
});

const PRIVACY_VERSION = '2026-01';
const state = {
    token: sessionStorage.getItem('member_token'),
    config: {},
    card: null,
    tiers: null,
    codeTimer: 0,
    codeUrl: null,
    expiresAt: 0,
    period: 30,
    txNext: undefined,
    txLoading: false,
};

const api = (method, path, body) => call(method, '/api/' + path, { token: state.token, body });

// a member's invite (GET referral's link, /card/?invite=<code>), kept in
// the tab across the sign-in: invite_code at registration, outer_str of the
// wallet card (docs/campaigns.md)
const INVITE = (() => {
    const v = new URLSearchParams(location.search).get('invite');
    if (v && /^[A-Za-z0-9]{9,32}$/.test(v)) {
        sessionStorage.setItem('member_invite', v);
    }
    return sessionStorage.getItem('member_invite') || '';
})();

function fail(where, e) {
    $(where).textContent = t('error', { m: e.message });
}

// ------------------------------------------------------------ sign-in

async function config() {
    try {
        const r = await fetch('config.json', { cache: 'no-store' });
        return r.ok ? await r.json() : {};
    } catch {
        return {};
    }
}

function signIn() {
    show($('#member'), false);
    show($('#register'), false);
    show($('#login'));
    $('#login-brand').textContent = state.config.brand || t('brand');
    if (state.config.demo) {
        show($('#demo-login'));
        return;
    }
    // in WeChat: member_wechat_oauth, once; a second failure stays here
    const tried = Number(sessionStorage.getItem('oauth_tried') || 0);
    if (state.config.oauth && Date.now() - tried > 60000) {
        sessionStorage.setItem('oauth_tried', String(Date.now()));
        location.assign(state.config.oauth + '?return=' + encodeURIComponent(location.pathname));
    } else if (tried) {
        $('#login-error').textContent = t('login_again');
    }
}

// the demo's WeChat stand-in makes any code "ok-<name>" a login of <name>:
// a random name is a new visitor (the demo configuration only)
async function demoLogin() {
    const name = 'v' + Array.from(crypto.getRandomValues(new Uint8Array(6)),
        (b) => b.toString(16).padStart(2, '0')).join('');
    try {
        const r = await call('POST', '/login', { body: { code: 'ok-' + name } });
        state.token = r.token;
        sessionStorage.setItem('member_token', r.token);
        await boot();
    } catch (e) {
        fail('#login-error', e);
    }
}

// ------------------------------------------------------------ registration

async function register(ev) {
    ev.preventDefault();
    const f = fields(ev.target);
    const err = $('#register-error');
    err.textContent = '';
    if (!f.name) {
        err.textContent = t('need_name');
        return;
    }
    if (!/^\+?\d{5,15}$/.test(f.phone)) {
        err.textContent = t('need_phone');
        return;
    }
    if (!f.consent) {
        err.textContent = t('need_consent');
        return;
    }
    const body = { name: f.name, phone: f.phone, consent: { privacy: PRIVACY_VERSION } };
    if (f.birthday) {
        body.birthday = f.birthday;
    }
    if (f.gender) {
        body.gender = f.gender;
    }
    if (INVITE) {
        body.invite_code = INVITE;
    }
    const button = ev.target.querySelector('button[type=submit]');
    button.disabled = true;
    try {
        let r;
        try {
            r = await api('POST', 'register', body);
        } catch (e) {
            // a stale invite does not keep anyone from joining
            if (!body.invite_code || !e.message.startsWith('invite_code')) {
                throw e;
            }
            delete body.invite_code;
            r = await api('POST', 'register', body);
        }
        if (r.token && state.token) {
            state.token = r.token;          // linked to an existing member
            sessionStorage.setItem('member_token', r.token);
        }
        await boot();
    } catch (e) {
        fail('#register-error', e);
    } finally {
        button.disabled = false;
    }
}

// ------------------------------------------------------------ the card

function maskCard(no) {
    return no ? no.slice(0, 4) + ' **** **** ' + no.slice(-4) : '';
}

function tierName(level) {
    const tier = state.tiers && state.tiers.tiers.find((x) => x.level === level);
    return (tier && tier.name) || t(level);
}

function renderCard(c) {
    $('#brand').textContent = state.config.brand || t('brand');
    $('#tier').textContent = tierName(c.level);
    $('#card').className = 'membercard ' + c.level;
    $('#card-no').textContent = maskCard(c.card_no);
    $('#points').textContent = String(c.points);
    $('#balance').textContent = money(c.balance_fen);
}

// ------------------------------------------------------------ the dynamic code

async function refreshCode() {
    clearTimeout(state.codeTimer);
    try {
        const r = await fetch('/api/code.svg', {
            headers: state.token ? { Authorization: 'Bearer ' + state.token } : {},
            credentials: 'same-origin',
            cache: 'no-store',
        });
        if (r.status === 401) {
            signIn();
            return;
        }
        if (!r.ok) {
            throw new ApiError(r.status, await r.json().catch(() => null));
        }
        const left = Number(r.headers.get('X-Member-Code-Expires-In')) || 30;
        const url = URL.createObjectURL(await r.blob());
        const img = $('#qr');
        const old = state.codeUrl;
        img.src = url;
        state.codeUrl = url;
        if (old) {
            URL.revokeObjectURL(old);
        }
        state.period = Math.max(state.period, left);
        state.expiresAt = Date.now() + left * 1000;
        img.dataset.refreshed = String(Number(img.dataset.refreshed || 0) + 1);
        show($('#digits'), false);
        $('#code-error').textContent = '';
    } catch (e) {
        fail('#code-error', e);
        state.expiresAt = Date.now() + 5000;
    }
    tick();
}

function tick() {
    const left = Math.max(0, Math.ceil((state.expiresAt - Date.now()) / 1000));
    $('#countdown').textContent = t('refresh_in', { s: left });
    $('#countdown-bar').style.width = (100 * left / state.period) + '%';
    if (left <= 0) {
        refreshCode();
        return;
    }
    state.codeTimer = setTimeout(tick, 1000);
}

// the code's digits, for a till that types them: the same code as the image
// (one per period), shown only when asked for
async function digits() {
    try {
        const r = await api('POST', 'code');
        $('#digits').textContent = r.code.replace(/(\d{4})(?=\d)/g, '$1 ');
        show($('#digits'));
    } catch (e) {
        fail('#code-error', e);
    }
}

// ------------------------------------------------------------ WeChat's wallet

function inWeChat() {
    return /MicroMessenger/i.test(navigator.userAgent);
}

function loadScript(src) {
    return new Promise((resolve, reject) => {
        document.head.append(el('script', { src, onload: resolve, onerror: reject }));
    });
}

async function wallet() {
    const button = $('#wallet');
    if (!inWeChat() || !state.config.card_id) {
        return;                 // hidden outside WeChat
    }
    try {
        if (!window.wx && state.config.wx_sdk) {
            await loadScript(state.config.wx_sdk);
        }
        if (!window.wx) {
            return;
        }
        const url = location.href.split('#')[0];
        const s = await api('GET', 'jssdk?url=' + encodeURIComponent(url));
        window.wx.config({
            debug: false, appId: s.appId, timestamp: s.timestamp, nonceStr: s.nonceStr,
            signature: s.signature, jsApiList: ['addCard'],
        });
        window.wx.ready(() => show(button));
    } catch {
        /* no wallet button then */
    }
    button.addEventListener('click', async () => {
        try {
            const ext = await api('GET', 'card-ext?card_id=' + encodeURIComponent(state.config.card_id)
                                  + (INVITE ? '&outer_str=' + INVITE : ''));
            window.wx.addCard({
                cardList: [{ cardId: ext.cardId, cardExt: ext.cardExt }],
                success: () => { button.textContent = t('wallet_added'); button.disabled = true; },
            });
        } catch (e) {
            fail('#code-error', e);
        }
    });
}

// ------------------------------------------------------------ tiers

function benefits(tier) {
    const parts = [];
    parts.push(tier.discount_pct < 100
        ? t('discount', { d: tier.discount_pct / 10, p: 100 - tier.discount_pct })
        : t('no_discount'));
    parts.push(t('points_pct', { p: tier.points_pct, x: tier.points_pct / 100 }));
    return parts.join(' · ');
}

async function tiers() {
    try {
        state.tiers = await api('GET', 'tiers');
    } catch {
        return;                 // no tiers endpoint: no section
    }
    const list = $('#tier-list');
    const { tiers: all, level, period_spend_fen: spent = 0 } = state.tiers;
    list.replaceChildren(...all.map((x) => el('li', { class: x.level === level ? 'current' : '' },
        el('span', {}, x.name || t(x.level)), el('span', { class: 'muted' }, benefits(x)))));
    const i = all.findIndex((x) => x.level === level);
    const next = all.slice(i + 1).find((x) => x.min_spend_fen > spent);
    if (next) {
        $('#tier-progress-text').textContent = t('tier_next', {
            spent: money(spent), left: money(next.min_spend_fen - spent), name: next.name || t(next.level),
        });
        $('#tier-progress').style.width = Math.min(100, 100 * spent / next.min_spend_fen) + '%';
    } else {
        $('#tier-progress-text').textContent = t('tier_top');
        $('#tier-progress').style.width = '100%';
    }
    show($('#tiers'));
    $('#tier').textContent = tierName(level);
}

// ------------------------------------------------------------ points, coupons

async function expiring() {
    const p = await api('GET', 'points');
    const list = $('#expiring-list');
    list.replaceChildren(...(p.expiring || []).map((lot) => el('li', {},
        el('span', { class: 'num' }, t('points_unit', { n: lot.points })),
        el('span', { class: 'muted' }, t('expiring_item', { date: date(lot.expires_at) })))));
    show($('#expiring-none'), !list.children.length);
}

// GET coupons: the section only when the endpoint answers
async function coupons() {
    let d;
    try {
        d = await api('GET', 'coupons');
    } catch {
        return;
    }
    const items = Array.isArray(d) ? d : (d && (d.items || d.coupons)) || [];
    $('#coupon-list').replaceChildren(...items.map((c) => {
        const what = c.value_fen ? money(c.value_fen)
            : c.pct ? t('coupon_pct', { p: c.pct, d: (100 - c.pct) / 10 }) : c.gift || '';
        const min = c.min_spend_fen ? t('coupon_min', { m: money(c.min_spend_fen) }) : '';
        const until = c.expires_at ? t('coupon_until', { date: date(c.expires_at) }) : '';
        const status = c.status && c.status !== 'usable' ? t('coupon_' + c.status) : '';
        return el('li', { class: status ? 'muted' : '', dataset: { coupon: c.coupon_id || '' } },
            el('span', {}, c.name || '', el('br'), el('span', { class: 'muted' }, [min, until].filter(Boolean).join(' · '))),
            el('span', { class: 'right' }, el('strong', {}, what), status ? ' ' + status : ''));
    }));
    show($('#coupons-none'), !items.length);
    show($('#coupons'));
}

// ------------------------------------------------------------ transactions

function txLine(e) {
    const type = e.type === 'birthday' ? 'birthday_gift' : e.type;
    let fen = 0;
    if (e.type === 'recharge') {
        fen = Number(e.amount_fen || 0) + Number(e.bonus_fen || 0);
    } else if (e.principal_fen !== undefined || e.bonus_fen !== undefined) {
        fen = Number(e.principal_fen || 0) + Number(e.bonus_fen || 0);
    }
    const pts = Number(e.points_delta || 0);
    const right = [];
    if (fen) {
        right.push(el('span', { class: 'num ' + (fen > 0 ? 'plus' : 'minus') }, (fen > 0 ? '+' : '') + money(fen)));
    } else if (e.type === 'earn' && e.charged_fen) {
        right.push(el('span', { class: 'num' }, money(e.charged_fen)));
    }
    if (pts) {
        right.push(el('span', { class: 'num ' + (pts > 0 ? 'plus' : 'minus') },
            ' ' + (pts > 0 ? '+' : '') + t('points_unit', { n: pts })));
    }
    if (e.type === 'tier' && e.to) {
        right.push(el('span', {}, tierName(e.to)));
    }
    return el('li', { dataset: { id: e.id, type: e.type } },
        el('span', {}, t(type), el('br'), el('span', { class: 'muted' }, date(e.ts, true))),
        el('span', { class: 'right' }, right));
}

async function moreTransactions() {
    if (state.txLoading || state.txNext === null) {
        return;
    }
    state.txLoading = true;
    try {
        const q = 'transactions?limit=20' + (state.txNext ? '&before=' + encodeURIComponent(state.txNext) : '');
        const page = await api('GET', q);
        $('#tx-list').append(...page.items.map(txLine));
        state.txNext = page.next;
        if (page.next === null) {
            show($('#tx-more'), false);
            show($('#tx-end'), true);
            if (!$('#tx-list').children.length) {
                $('#tx-end').textContent = t('tx_none');
            }
        }
    } catch (e) {
        fail('#tx-more', e);
    } finally {
        state.txLoading = false;
    }
    // the sentinel may still be in view: the next page then, too
    const r = $('#tx-more').getBoundingClientRect();
    if (state.txNext && r.top < innerHeight) {
        moreTransactions();
    }
}

function infiniteScroll() {
    new IntersectionObserver((entries) => {
        if (entries.some((x) => x.isIntersecting)) {
            moreTransactions();
        }
    }, { rootMargin: '200px' }).observe($('#tx-more'));
}

// ------------------------------------------------------------ feedback

// the section when the endpoint exists: the member's own, with answers
async function feedback() {
    let d;
    try {
        d = await api('GET', 'feedback');
    } catch (e) {
        if (e.status === 404 || e.status >= 500) {
            return;
        }
    }
    const items = (d && d.items) || [];
    $('#feedback-list').replaceChildren(...items.map((f) => el('li', { dataset: { id: f.feedback_id } },
        el('span', {}, '★'.repeat(f.rating || 0) + ' ' + (f.text || ''),
            f.answer ? el('br') : null, f.answer ? el('span', { class: 'muted' }, t('answer', { a: f.answer })) : null),
        el('span', { class: 'muted' }, f.created_at ? date(f.created_at) : ''))));
    show($('#feedback'));
}

async function sendFeedback(ev) {
    ev.preventDefault();
    const f = fields(ev.target);
    $('#feedback-error').textContent = '';
    show($('#feedback-ok'), false);
    if (!f.text) {
        $('#feedback-error').textContent = t('need_text');
        return;
    }
    try {
        await api('POST', 'feedback', { text: f.text, rating: Number(f.rating) });
        ev.target.reset();
        show($('#feedback-ok'));
        await feedback();
    } catch (e) {
        fail('#feedback-error', e);
    }
}

// ------------------------------------------------------------ profile

async function profile() {
    const p = await api('GET', 'profile');
    const form = $('#profile-form');
    form.name.value = p.name || '';
    form.phone_masked.value = p.phone || '';
    form.birthday.value = p.birthday || '';
    form.gender.value = p.gender || '';
}

async function saveProfile(ev) {
    ev.preventDefault();
    const f = fields(ev.target);
    const body = {};
    for (const k of ['name', 'birthday', 'gender']) {
        if (f[k]) {
            body[k] = f[k];
        }
    }
    $('#profile-error').textContent = '';
    try {
        await api('PUT', 'profile', body);
        show($('#profile-ok'));
        setTimeout(() => show($('#profile-ok'), false), 2000);
    } catch (e) {
        fail('#profile-error', e);
    }
}

async function exportData() {
    try {
        const data = await api('GET', 'export');
        download('member-' + (state.card.card_no || 'data') + '.json', JSON.stringify(data, null, 2));
    } catch (e) {
        fail('#profile-error', e);
    }
}

async function deleteData() {
    if (!confirm(t('confirm_delete'))) {
        return;
    }
    try {
        await api('DELETE', 'profile');
        clearTimeout(state.codeTimer);
        sessionStorage.removeItem('member_token');
        show($('#member'), false);
        show($('#deleted'));
    } catch (e) {
        fail('#profile-error', e);
    }
}

// ------------------------------------------------------------ start

async function boot() {
    show($('#loading'));
    show($('#login'), false);
    try {
        state.card = await api('GET', 'card');
    } catch (e) {
        show($('#loading'), false);
        if (e.status === 401) {
            sessionStorage.removeItem('member_token');
            state.token = null;
            signIn();
        } else if (e.status === 404) {
            show($('#register'));       // a visitor: no card yet
        } else {
            show($('#login'));
            fail('#login-error', e);
        }
        return;
    }
    sessionStorage.removeItem('oauth_tried');
    show($('#loading'), false);
    show($('#register'), false);
    renderCard(state.card);
    show($('#member'));
    state.txNext = undefined;
    $('#tx-list').replaceChildren();
    refreshCode();
    await Promise.allSettled([tiers(), expiring(), coupons(), feedback(), profile(), wallet()]);
    moreTransactions();
}

async function start() {
    translate(document, t);
    document.title = t('brand');
    $('#code-refresh').title = t('tap_refresh');
    state.config = await config();
    if (state.config.brand) {
        document.title = state.config.brand;
    }
    $('#demo-login-button').addEventListener('click', demoLogin);
    $('#register-form').addEventListener('submit', register);
    $('#feedback-form').addEventListener('submit', sendFeedback);
    $('#profile-form').addEventListener('submit', saveProfile);
    $('#export').addEventListener('click', exportData);
    $('#delete').addEventListener('click', deleteData);
    $('#code-refresh').addEventListener('click', refreshCode);
    $('#digits-toggle').addEventListener('click', digits);
    document.addEventListener('visibilitychange', () => {
        if (!document.hidden && state.card) {
            refreshCode();
        }
    });
    infiniteScroll();
    await boot();
}

start();
