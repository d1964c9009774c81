// The brand's admin console: talks to member_admin (/admin/) with an admin
// token kept in this tab's sessionStorage and sent as a bearer token.
import * as echarts from '../../node_modules/echarts/dist/echarts.esm.min.mjs';
import {
    $, call, date, el, fields, money, show, texts, toFen, translate, yuan,
} from '../lib/util.js';

const t = texts({
    zh: {
        title: '会员管理后台', members: '会员', rules: '规则', stores: '门店', coupons: '优惠券',
        reports: '报表', audit: '审计日志', signout: '退出', signin_title: '登录', admin_token: '管理令牌',
        token_hint: '令牌只保存在本标签页（sessionStorage），关闭即清除。', signin: '登录',
        bad_token: '令牌无效', find_member: '查找会员', by_card: '卡号', by_phone: '手机号',
        by_openid: 'openid', by_id: '会员 ID', search: '查找', not_found: '没有找到这位会员',
        member: '会员', recharge: '充值', amount_yuan: '金额（元）', adjust_points: '调整积分',
        delta_hint: '积分增减，如 100 或 -50', reason: '原因', apply: '确定', tier_override: '调整等级',
        need_reason: '请填写原因', bad_amount: '请输入正确的金额', bad_delta: '请输入非零整数',
        recharged: '已充值 {amount}（赠送 {bonus}），余额 {balance}', adjusted: '积分现为 {points}',
        level_set: '等级已改为 {level}', balance_history: '余额走势', ledger: '流水', time: '时间',
        type: '类型', money: '金额', points: '积分', balance: '余额', detail: '说明', more: '更多',
        rules_title: '会员规则', rules_hint: '整数；百分比用整数表示。保存后生成新版本。', save: '保存',
        reload: '重新载入', version: '版本 {v}', saved_version: '已保存为版本 {v}', bad_json: 'JSON 格式错误：{m}',
        bad_field: '字段 {field}：{m}', new_store: '新建门店', store_id: '门店编号', store_name: '名称',
        create: '创建', rotate: '更换密钥', secret_once: '门店密钥只显示这一次，请立即配置到收银机：', status: '状态',
        created: '创建时间', not_yet: '此功能尚未启用。', new_template: '新建券模板', tpl_name: '名称',
        tpl_value: '面额（元）', tpl_min: '满（元）可用', tpl_days: '有效天数', templates: '券模板',
        terms: '内容', issue: '发券', issue_to: '会员 ID（逗号分隔）', issued: '已发 {issued} 张，跳过 {skipped}',
        from: '从', to: '到', show: '查看', liabilities: '负债（储值与积分）', tier_distribution: '等级分布',
        new_members: '每日新会员', spend_recharge: '每日消费与充值', segments: 'RFM 分群',
        stored_value: '储值余额', principal: '本金', bonus: '赠送', points_outstanding: '未用积分',
        member_count: '会员数', spend: '消费', recharges: '充值', who: '操作人', what: '操作',
        no_reports: '报表接口暂不可用', error: '出错了：{m}', actor_filter: '操作人（key id 或 bootstrap）',
        target_filter: '对象，如 members/12',
    },
    en: {
        title: 'Member console', members: 'Members', rules: 'Rules', stores: 'Stores', coupons: 'Coupons',
        reports: 'Reports', audit: 'Audit log', signout: 'Sign out', signin_title: 'Sign in',
        admin_token: 'Admin token', token_hint: 'The token is kept in this tab only (sessionStorage).',
        signin: 'Sign in', bad_token: 'Invalid token', find_member: 'Find a member', by_card: 'Card number',
        by_phone: 'Phone', by_openid: 'openid', by_id: 'Member id', search: 'Search',
        not_found: 'No such member', member: 'Member', recharge: 'Top up', amount_yuan: 'Amount (yuan)',
        adjust_points: 'Adjust points', delta_hint: 'Points, e.g. 100 or -50', reason: 'Reason',
        apply: 'Apply', tier_override: 'Override tier', need_reason: 'A reason is required',
        bad_amount: 'Enter a valid amount', bad_delta: 'Enter a non-zero integer',
        recharged: 'Topped up {amount} (bonus {bonus}); balance {balance}', adjusted: 'Points now {points}',
        level_set: 'Tier set to {level}', balance_history: 'Balance history', ledger: 'Ledger', time: 'Time',
        type: 'Type', money: 'Amount', points: 'Points', balance: 'Balance', detail: 'Detail', more: 'More',
        rules_title: 'Programme rules', rules_hint: 'Integers only; percentages as whole numbers. Saving makes a new version.',
        save: 'Save', reload: 'Reload', version: 'version {v}', saved_version: 'Saved as version {v}',
        bad_json: 'Not valid JSON: {m}', bad_field: 'Field {field}: {m}', new_store: 'New store',
        store_id: 'Store id', store_name: 'Name', create: 'Create', rotate: 'New secret',
        secret_once: 'The store secret is shown only this once; configure the till now:', status: 'Status',
        created: 'Created', not_yet: 'Not available yet.', new_template: 'New coupon template',
        tpl_name: 'Name', tpl_value: 'Value (yuan)', tpl_min: 'Minimum spend (yuan)', tpl_days: 'Valid days',
        templates: 'Templates', terms: 'Terms', issue: 'Issue', issue_to: 'Member ids, comma separated',
        issued: 'Issued {issued}, skipped {skipped}', from: 'From', to: 'To', show: 'Show',
        liabilities: 'Liabilities (stored value and points)', tier_distribution: 'Tier distribution',
        new_members: 'New members per day', spend_recharge: 'Spend and top-ups per day',
        segments: 'RFM segments', stored_value: 'Stored value', principal: 'Principal', bonus: 'Bonus',
        points_outstanding: 'Points outstanding', member_count: 'Members', spend: 'Spend',
        recharges: 'Top-ups', who: 'Who', what: 'Action', no_reports: 'Reports are not available',
        actor_filter: 'Actor (key id or bootstrap)', target_filter: 'Target, e.g. members/12',
        error: 'Something went wrong: {m}',
    },
});

const state = { token: sessionStorage.getItem('admin_token'), member: null, ledgerNext: null, charts: {} };

const api = (method, path, body) => call(method, '/admin/' + path, { token: state.token, body });

function fail(where, e) {
    const m = e.status === 401 ? t('bad_token') : e.message;
    $(where).textContent = t('error', { m });
    if (e.status === 401) {
        signOut();
    }
}

function say(where, text) {
    $(where).textContent = text;
}

// a key per form submission: a retry of the same submission is applied once
function idem() {
    return 'console-' + crypto.randomUUID();
}

// ------------------------------------------------------------ sign-in, views

// who signed in: the bootstrap token or a key, and its role
async function whoami() {
    const w = await api('GET', 'whoami');
    $('#who').textContent = [w.actor, w.role !== w.actor && w.role, (w.stores || []).join(',')]
        .filter(Boolean).join(' · ');
    // a store's key finds members by card number or phone only
    for (const o of $('#find-by').options) {
        o.hidden = o.disabled = w.role === 'store' && (o.value === 'openid' || o.value === 'id');
    }
    return w;
}

function signOut() {
    sessionStorage.removeItem('admin_token');
    state.token = null;
    $('#who').textContent = '';
    show($('#nav'), false);
    show($('#signout'), false);
    for (const v of document.querySelectorAll('.view')) {
        show(v, false);
    }
    show($('#signin'));
}

async function signIn(ev) {
    ev.preventDefault();
    state.token = fields(ev.target).token;
    try {
        await whoami();
    } catch (e) {
        state.token = null;
        say('#signin-error', e.status === 401 ? t('bad_token') : t('error', { m: e.message }));
        return;
    }
    sessionStorage.setItem('admin_token', state.token);
    ev.target.reset();
    say('#signin-error', '');
    route();
}

const views = { members: null, rules: loadRules, stores: loadStores, coupons: loadCoupons,
    reports: loadReports, audit: loadAudit };

function route() {
    if (!state.token) {
        signOut();
        return;
    }
    if (!$('#who').textContent) {
        whoami().catch((e) => e.status === 401 && signOut());
    }
    show($('#signin'), false);
    show($('#nav'));
    show($('#signout'));
    const name = location.hash.slice(1) in views ? location.hash.slice(1) : 'members';
    for (const v of document.querySelectorAll('.view')) {
        show(v, v.id === name);
    }
    for (const a of document.querySelectorAll('#nav a')) {
        a.classList.toggle('active', a.getAttribute('href') === '#' + name);
    }
    if (views[name]) {
        views[name]();
    }
    for (const c of Object.values(state.charts)) {
        c.resize();
    }
}

// ------------------------------------------------------------ members

async function findMember(ev) {
    ev.preventDefault();
    const { by, q } = fields(ev.target);
    say('#find-error', '');
    if (!q) {
        return;
    }
    try {
        let m;
        if (by === 'phone' || by === 'openid') {
            m = await api('POST', 'members/lookup', { [by]: q });    // never in a URL
        } else if (by === 'id') {
            m = await api('GET', 'members/' + encodeURIComponent(q));
        } else {
            m = await api('GET', `members?${by}=` + encodeURIComponent(q));
        }
        await showMember(m);
    } catch (e) {
        show($('#member-detail'), false);
        if (e.status === 404 || e.status === 400) {
            say('#find-error', t('not_found'));
        } else {
            fail('#find-error', e);
        }
    }
}

const MEMBER_FIELDS = ['member_id', 'card_no', 'status', 'level', 'points', 'balance_fen', 'principal_fen',
    'bonus_fen', 'name', 'phone', 'openid', 'created_at', 'activated_at', 'period_spend_fen', 'churn_score'];

function fieldValue(k, v) {
    if (k.endsWith('_fen')) {
        return money(v);
    }
    if (k.endsWith('_at') && typeof v === 'number') {
        return date(v, true);
    }
    if (v && typeof v === 'object') {
        return JSON.stringify(v);
    }
    return String(v);
}

async function openMember(id) {
    await showMember(await api('GET', 'members/' + encodeURIComponent(id)));
}

// the record as the key's role sees it (a whitelist: hq whole, readonly
// masked, a store its till's view, which has no id, ledger or changes)
async function showMember(m) {
    state.member = m;
    const keys = MEMBER_FIELDS.filter((k) => m[k] !== undefined && m[k] !== null);
    for (const k of Object.keys(m)) {
        if (!keys.includes(k) && m[k] !== null) {
            keys.push(k);
        }
    }
    $('#member-fields').replaceChildren(...keys.flatMap((k) => [
        el('dt', {}, k), el('dd', { dataset: { field: k } }, fieldValue(k, m[k]))]));
    $('#level-select').value = m.level;
    const whole = m.member_id !== undefined;
    for (const p of document.querySelectorAll('#member-detail .panel')) {
        show(p, whole || p.contains($('#member-fields')));
    }
    show($('#member-detail'));
    $('#ledger').replaceChildren();
    state.ledgerNext = null;
    if (whole) {
        await moreLedger(true);
    }
}

function ledgerRow(e) {
    let fen = 0;
    if (e.type === 'recharge') {
        fen = Number(e.amount_fen || 0) + Number(e.bonus_fen || 0);
    } else if (e.principal_fen !== undefined || e.bonus_fen !== undefined) {
        fen = Number(e.principal_fen || 0) + Number(e.bonus_fen || 0);
    }
    const detail = [e.store_id, e.order_id, e.reason, e.note, e.to && `→ ${e.to}`]
        .filter(Boolean).join(' ');
    return el('tr', { dataset: { id: e.id } },
        el('td', {}, date(e.ts, true)), el('td', {}, e.type),
        el('td', { class: 'num' }, fen ? yuan(fen) : ''),
        el('td', { class: 'num' }, e.points_delta ? String(e.points_delta) : ''),
        el('td', { class: 'num' }, e.balance_fen !== undefined ? yuan(e.balance_fen) : ''),
        el('td', {}, detail));
}

async function moreLedger(first = false) {
    const id = state.member.member_id;
    const q = 'limit=50' + (!first && state.ledgerNext ? '&before=' + encodeURIComponent(state.ledgerNext) : '');
    const page = await api('GET', `members/${encodeURIComponent(id)}/transactions?${q}`);
    $('#ledger').append(...page.items.map(ledgerRow));
    state.ledgerNext = page.next;
    show($('#ledger-more'), Boolean(page.next));
    if (first) {
        balanceChart(page.items);
    }
}

// the balance after each entry of the newest page, oldest first
function balanceChart(items) {
    const points = items.filter((e) => e.balance_fen !== undefined).reverse();
    chart('balance', '#balance-chart', {
        tooltip: { trigger: 'axis' },
        grid: { left: 60, right: 20, top: 20, bottom: 30 },
        xAxis: { type: 'category', data: points.map((e) => date(e.ts, true)) },
        yAxis: { type: 'value', axisLabel: { formatter: (v) => yuan(Math.round(v * 100)) } },
        series: [{ name: t('balance'), type: 'line', step: 'end',
            data: points.map((e) => Number(e.balance_fen) / 100) }],
    });
}

async function recharge(ev) {
    ev.preventDefault();
    const fen = toFen(fields(ev.target).yuan);
    say('#recharge-error', '');
    say('#recharge-ok', '');
    if (!fen) {
        say('#recharge-error', t('bad_amount'));
        return;
    }
    try {
        const r = await api('POST', `members/${state.member.member_id}/recharge`,
            { amount_fen: fen, idempotency_key: idem() });
        say('#recharge-ok', t('recharged', { amount: money(fen), bonus: money(r.bonus_fen || 0),
            balance: money(r.balance_fen) }));
        ev.target.reset();
        await openMember(state.member.member_id);
    } catch (e) {
        fail('#recharge-error', e);
    }
}

async function adjustPoints(ev) {
    ev.preventDefault();
    const f = fields(ev.target);
    say('#points-error', '');
    say('#points-ok', '');
    if (!/^-?\d+$/.test(f.delta) || Number(f.delta) === 0) {
        say('#points-error', t('bad_delta'));
        return;
    }
    if (!f.reason) {
        say('#points-error', t('need_reason'));
        return;
    }
    try {
        const r = await api('POST', `members/${state.member.member_id}/points`,
            { delta: Number(f.delta), reason: f.reason, idempotency_key: idem() });
        say('#points-ok', t('adjusted', { points: r.points }));
        ev.target.reset();
        await openMember(state.member.member_id);
    } catch (e) {
        fail('#points-error', e);
    }
}

async function setLevel(ev) {
    ev.preventDefault();
    const f = fields(ev.target);
    say('#level-error', '');
    say('#level-ok', '');
    if (!f.reason) {
        say('#level-error', t('need_reason'));
        return;
    }
    try {
        await api('PUT', `members/${state.member.member_id}/level`, { level: f.level, reason: f.reason });
        say('#level-ok', t('level_set', { level: f.level }));
        $('#level-reason').value = '';
        await openMember(state.member.member_id);
    } catch (e) {
        fail('#level-error', e);
    }
}

// ------------------------------------------------------------ rules

async function loadRules() {
    say('#rules-error', '');
    try {
        const r = await api('GET', 'rules');
        const { version, ...rules } = r;
        say('#rules-version', t('version', { v: version }));
        $('#rules-json').value = JSON.stringify(rules, null, 2);
        $('#rules-json').classList.remove('bad');
    } catch (e) {
        fail('#rules-error', e);
    }
}

// selects the field that a path like "tiers[1].discount_pct" names in the
// editor's JSON: each key is looked for after the previous one, [n] meaning
// its n+1-th occurrence there
function pointAt(area, field) {
    let pos = 0;
    let nth = 0;
    let found = -1;
    let key = '';
    for (const tok of field.match(/\[\d+\]|[^.[\]]+/g) || []) {
        if (tok.startsWith('[')) {
            nth = Number(tok.slice(1, -1));
            continue;
        }
        key = JSON.stringify(tok);
        found = pos;
        for (let i = 0; i <= nth && found >= 0; i++) {
            found = area.value.indexOf(key, i ? found + 1 : found);
        }
        if (found < 0) {
            return;
        }
        pos = found;
        nth = 0;
    }
    if (found >= 0) {
        area.focus();
        area.setSelectionRange(found, found + key.length);
        const line = area.value.slice(0, found).split('\n').length;
        area.scrollTop = Math.max(0, (line - 3) * parseFloat(getComputedStyle(area).lineHeight || 18));
    }
}

// 422 bad_rules: the message starts with the field at fault
async function saveRules() {
    const area = $('#rules-json');
    say('#rules-error', '');
    say('#rules-ok', '');
    area.classList.remove('bad');
    let rules;
    try {
        rules = JSON.parse(area.value);
    } catch (e) {
        area.classList.add('bad');
        say('#rules-error', t('bad_json', { m: e.message }));
        return;
    }
    try {
        await api('PUT', 'rules', rules);
        const r = await api('GET', 'rules');
        say('#rules-version', t('version', { v: r.version }));
        say('#rules-ok', t('saved_version', { v: r.version }));
    } catch (e) {
        area.classList.add('bad');
        const m = /^([\w.[\]]+):\s*(.*)$/.exec(e.message || '');
        if (e.status === 422 && m) {
            $('#rules-error').dataset.field = m[1];
            say('#rules-error', t('bad_field', { field: m[1], m: m[2] }));
            pointAt(area, m[1]);
        } else {
            fail('#rules-error', e);
        }
    }
}

// ------------------------------------------------------------ stores

async function loadStores() {
    try {
        const d = await api('GET', 'stores');
        const items = Array.isArray(d) ? d : d.items || d.stores || [];
        $('#store-list').replaceChildren(...items.map((s) => el('tr', { dataset: { store: s.store_id } },
            el('td', {}, s.store_id), el('td', {}, s.name || ''), el('td', {}, s.status || ''),
            el('td', {}, s.created_at ? date(s.created_at, true) : ''),
            el('td', {}, el('button', { type: 'button', class: 'rotate', dataset: { rotate: s.store_id },
                onclick: () => rotateStore(s.store_id) }, t('rotate'))))));
    } catch (e) {
        fail('#store-error', e);
    }
}

// a new secret for a store: shown once, like a new store's; the old one stops working
async function rotateStore(id) {
    say('#store-error', '');
    show($('#store-secret-box'), false);
    try {
        const r = await api('POST', `stores/${encodeURIComponent(id)}/rotate`);
        $('#store-secret').textContent = r.secret;
        show($('#store-secret-box'));
    } catch (e) {
        fail('#store-error', e);
    }
}

async function createStore(ev) {
    ev.preventDefault();
    const f = fields(ev.target);
    say('#store-error', '');
    show($('#store-secret-box'), false);
    try {
        const r = await api('POST', 'stores', { store_id: f.store_id, name: f.name });
        $('#store-secret').textContent = r.secret;       // shown once, never stored here
        show($('#store-secret-box'));
        ev.target.reset();
        await loadStores();
    } catch (e) {
        fail('#store-error', e);
    }
}

// ------------------------------------------------------------ coupons

function terms(tpl) {
    const parts = [];
    if (tpl.value_fen) {
        parts.push(money(tpl.value_fen));
    }
    if (tpl.pct) {
        parts.push(tpl.pct + '%' + (tpl.cap_fen ? ' ≤ ' + money(tpl.cap_fen) : ''));
    }
    if (tpl.gift) {
        parts.push(tpl.gift);
    }
    if (tpl.min_spend_fen) {
        parts.push('≥ ' + money(tpl.min_spend_fen));
    }
    if (tpl.valid_days) {
        parts.push(tpl.valid_days + 'd');
    }
    return parts.join(' · ');
}

async function loadCoupons() {
    let d;
    try {
        d = await api('GET', 'coupons/templates');
    } catch (e) {
        const missing = e.status === 404;
        show($('#coupons-missing'), missing);
        show($('#coupons-body'), !missing);
        if (!missing) {
            fail('#template-error', e);
        }
        return;
    }
    show($('#coupons-missing'), false);
    show($('#coupons-body'));
    const items = Array.isArray(d) ? d : d.items || d.templates || [];
    $('#template-list').replaceChildren(...items.map((tpl) => {
        const input = el('input', { placeholder: t('issue_to') });
        const issue = async () => {
            say('#issue-error', '');
            say('#issue-ok', '');
            const ids = input.value.split(/[,\s]+/).filter(Boolean);
            try {
                const r = await api('POST', 'coupons/issue',
                    { template_id: tpl.template_id, member_ids: ids, idempotency_key: idem() });
                say('#issue-ok', t('issued', { issued: r.issued, skipped: r.skipped }));
                input.value = '';
            } catch (e) {
                fail('#issue-error', e);
            }
        };
        return el('tr', { dataset: { template: tpl.template_id } },
            el('td', {}, tpl.template_id), el('td', {}, tpl.name), el('td', {}, terms(tpl)),
            el('td', {}, el('div', { class: 'row' }, input, el('button', { type: 'button', onclick: issue }, t('issue')))));
    }));
}

async function createTemplate(ev) {
    ev.preventDefault();
    const f = fields(ev.target);
    say('#template-error', '');
    const body = { name: f.name, value_fen: toFen(f.yuan) };
    if (f.min_yuan) {
        body.min_spend_fen = toFen(f.min_yuan);
    }
    body.valid_days = Number(f.valid_days || 30);
    try {
        await api('POST', 'coupons/templates', body);
        ev.target.reset();
        await loadCoupons();
    } catch (e) {
        fail('#template-error', e);
    }
}

// ------------------------------------------------------------ reports

function chart(name, sel, option) {
    let c = state.charts[name];
    if (!c) {
        c = echarts.init($(sel), null, { renderer: 'canvas' });
        state.charts[name] = c;
        $(sel).dataset.chart = name;
    }
    c.setOption(option, true);
    $(sel).dataset.rendered = String(Number($(sel).dataset.rendered || 0) + 1);
    return c;
}

// the report's rows, whatever the envelope: [...], {days: [...]}, {items: [...]}
const rowsOf = (d) => (Array.isArray(d) ? d : (d && (d.days || d.items || d.rows)) || []);
const pick = (o, ...names) => {
    for (const n of names) {
        if (o && o[n] !== undefined) {
            return Number(o[n]);
        }
    }
    return 0;
};

function isoDay(d) {
    return d.toLocaleDateString('en-CA', { timeZone: 'Asia/Shanghai' });
}

async function loadReports(ev) {
    if (ev) {
        ev.preventDefault();
    }
    const from = $('#from');
    const to = $('#to');
    if (!to.value) {
        to.value = isoDay(new Date());
        from.value = isoDay(new Date(Date.now() - 29 * 86400000));
    }
    say('#reports-error', '');
    const [totals, daily, segments] = await Promise.allSettled([
        api('GET', 'totals'),
        api('GET', `reports/daily?from=${from.value}&to=${to.value}`),
        api('GET', 'segments'),
    ]);
    // a panel only for what answers (the reports' endpoints may be missing)
    for (const e of document.querySelectorAll('.totals-panel')) {
        show(e, totals.status === 'fulfilled');
    }
    for (const e of document.querySelectorAll('.daily-panel')) {
        show(e, daily.status === 'fulfilled');
    }
    if (totals.status === 'fulfilled') {
        totalsCharts(totals.value);
    }
    if (daily.status === 'fulfilled') {
        dailyCharts(rowsOf(daily.value));
    }
    if (totals.status === 'rejected' && daily.status === 'rejected') {
        say('#reports-error', t('no_reports'));
    }
    show($('#segments-panel'), segments.status === 'fulfilled');
    if (segments.status === 'fulfilled') {
        const segs = Array.isArray(segments.value) ? segments.value
            : segments.value.segments || segments.value.items || [];
        chart('segments', '#chart-segments', {
            tooltip: {},
            grid: { left: 110, right: 20, top: 10, bottom: 30 },
            xAxis: { type: 'value', minInterval: 1 },
            yAxis: { type: 'category', data: segs.map((s) => s.name) },
            series: [{ type: 'bar', data: segs.map((s) => (s.count !== undefined ? Number(s.count)
                : (s.members || []).length)) }],
        });
    }
}

function totalsCharts(tot) {
    const principal = pick(tot, 'principal_fen');
    const bonus = pick(tot, 'bonus_fen');
    const balance = tot.balance_fen !== undefined ? pick(tot, 'balance_fen') : principal + bonus;
    const points = pick(tot, 'points', 'points_outstanding');
    const box = $('#totals');
    box.replaceChildren(
        el('div', {}, t('stored_value'), el('strong', { dataset: { total: 'balance_fen' } }, money(balance))),
        el('div', {}, t('principal'), el('strong', { dataset: { total: 'principal_fen' } }, money(principal))),
        el('div', {}, t('bonus'), el('strong', { dataset: { total: 'bonus_fen' } }, money(bonus))),
        el('div', {}, t('points_outstanding'), el('strong', { dataset: { total: 'points' } }, String(points))),
        tot.members !== undefined
            ? el('div', {}, t('member_count'), el('strong', { dataset: { total: 'members' } }, String(tot.members))) : null);
    chart('liabilities', '#chart-liabilities', {
        tooltip: { trigger: 'item' },
        legend: { bottom: 0 },
        series: [{ type: 'pie', radius: ['40%', '70%'], label: { formatter: '{b}\n¥{c}' },
            data: [{ name: t('principal'), value: principal / 100 }, { name: t('bonus'), value: bonus / 100 }] }],
    });
    const tiers = tot.members_by_level || tot.tiers || tot.levels || {};
    const entries = Array.isArray(tiers) ? tiers.map((x) => [x.level || x.name, pick(x, 'members', 'count')])
        : Object.entries(tiers).map(([k, v]) => [k, Number(typeof v === 'object' ? pick(v, 'members', 'count') : v)]);
    chart('tiers', '#chart-tiers', {
        tooltip: { trigger: 'item' },
        legend: { bottom: 0 },
        series: [{ type: 'pie', radius: '65%', data: entries.map(([name, value]) => ({ name, value })) }],
    });
}

function dailyCharts(rows) {
    const days = rows.map((r) => r.date || r.day);
    chart('members', '#chart-members', {
        tooltip: { trigger: 'axis' },
        grid: { left: 40, right: 20, top: 20, bottom: 30 },
        xAxis: { type: 'category', data: days },
        yAxis: { type: 'value', minInterval: 1 },
        series: [{ name: t('new_members'), type: 'bar',
            data: rows.map((r) => pick(r, 'new_members', 'members_new', 'registered')) }],
    });
    chart('money', '#chart-money', {
        tooltip: { trigger: 'axis' },
        legend: { bottom: 0 },
        grid: { left: 70, right: 20, top: 20, bottom: 50 },
        xAxis: { type: 'category', data: days },
        yAxis: { type: 'value' },
        series: [
            { name: t('spend'), type: 'bar', data: rows.map((r) => pick(r, 'spend_fen', 'paid_fen', 'sales_fen') / 100) },
            { name: t('recharges'), type: 'bar', data: rows.map((r) => pick(r, 'recharge_fen', 'recharged_fen') / 100) },
        ],
    });
}

// ------------------------------------------------------------ audit

async function loadAudit(ev) {
    if (ev && ev.preventDefault) {
        ev.preventDefault();
    }
    const f = fields($('#audit-form'));
    const q = new URLSearchParams({ limit: '100' });
    for (const k of ['actor', 'target']) {
        if (f[k]) {
            q.set(k, f[k]);
        }
    }
    let d;
    try {
        d = await api('GET', 'audit?' + q);
    } catch (e) {
        show($('#audit-missing'), true);
        return;
    }
    show($('#audit-missing'), false);
    const items = Array.isArray(d) ? d : d.items || [];
    const show2 = (v) => (v === undefined || v === null || v === '' ? ''
        : typeof v === 'string' ? v : JSON.stringify(v));
    $('#audit-list').replaceChildren(...items.map((a) => el('tr', { dataset: { id: a.id || '' } },
        el('td', {}, (a.at || a.ts) ? date(Number(a.at || a.ts), true) : ''),
        el('td', {}, [a.actor || a.who || '', a.role && a.role !== a.actor ? `(${a.role})` : ''].join(' ')),
        el('td', {}, [a.method, a.route || a.what || a.path, a.target, a.status].filter(Boolean).join(' ')),
        el('td', { class: 'wrap' }, [show2(a.before) && 'before ' + show2(a.before),
            show2(a.after) && 'after ' + show2(a.after)].filter(Boolean).join(' · ')))));
}

// ------------------------------------------------------------ start

function start() {
    translate(document, t);
    document.title = t('title');
    $('#signin-form').addEventListener('submit', signIn);
    $('#signout').addEventListener('click', signOut);
    $('#find-form').addEventListener('submit', findMember);
    $('#recharge-form').addEventListener('submit', recharge);
    $('#points-form').addEventListener('submit', adjustPoints);
    $('#level-form').addEventListener('submit', setLevel);
    $('#ledger-more').addEventListener('click', () => moreLedger());
    $('#rules-save').addEventListener('click', saveRules);
    $('#rules-reload').addEventListener('click', loadRules);
    $('#store-form').addEventListener('submit', createStore);
    $('#template-form').addEventListener('submit', createTemplate);
    $('#range-form').addEventListener('submit', loadReports);
    $('#audit-form').addEventListener('submit', loadAudit);
    addEventListener('hashchange', route);
    addEventListener('resize', () => Object.values(state.charts).forEach((c) => c.resize()));
    route();
}

// the tests read the charts' options from here
window.memberCharts = state.charts;

start();
