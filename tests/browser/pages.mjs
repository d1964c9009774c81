#!/usr/bin/env node
// pages.mjs : drives the card page and the console in Debian's headless
// Chromium (playwright-core).  It reads one JSON line per scenario on its
// standard input, {"scenario": NAME, "args": {...}}, and answers each with
// one line of JSON, {"result", "problems"}: what the browser saw.
// tests/integration/test_browser.py starts the world (nginx with the
// module, Redis, the fake WeChat), runs the scenarios and checks what they
// saw against the APIs.  One browser serves them all (a launch costs
// seconds); each scenario has fresh contexts, so no storage is shared.
// Screenshots go to args.shots.
//
// A scenario fails on a page error or a Content-Security-Policy violation:
// the pages must run under the strict policy of conf/pages.conf.
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const T = 15000;
let args = {};
let base = '';
let problems = [];
const contexts = [];

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
        // a brand domain of member_page_domain, served by the test's nginx
        `--host-resolver-rules=MAP pages.example.com 127.0.0.1`],
});

async function newPage({ token, adminToken, mobile = true, userAgent } = {}) {
    const ctx = await browser.newContext({
        locale: args.locale || 'zh-CN',
        timezoneId: 'Asia/Shanghai',
        viewport: mobile ? { width: 390, height: 844 } : { width: 1280, height: 900 },
        deviceScaleFactor: 1,
        userAgent,
    });
    await ctx.addInitScript(([tok, admin]) => {
        if (tok) {
            sessionStorage.setItem('member_token', tok);
        }
        if (admin) {
            sessionStorage.setItem('admin_token', admin);
        }
    }, [token || null, adminToken || null]);
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(T);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) {
            problems.push('CSP: ' + m.text());
        }
    });
    return page;
}

const shot = (page, name, opts = {}) =>
    page.screenshot({ path: path.join(args.shots, name + '.png'), ...opts });

const text = (page, sel) => page.$eval(sel, (e) => e.textContent.trim());
const visible = (page, sel) => page.$eval(sel, (e) => !e.closest('[hidden]'));

// the QR image as the customer's phone shows it, for zbarimg
async function qrShot(page, name) {
    const file = path.join(args.shots, name + '.png');
    await (await page.$('#qr')).screenshot({ path: file });
    return file;
}

async function cardView(page) {
    await page.waitForSelector('#member:not([hidden])');
    await page.waitForFunction(() => Number(document.querySelector('#qr').dataset.refreshed) >= 1
        && document.querySelector('#qr').complete);
    await page.waitForFunction(() => document.querySelector('#tx-end:not([hidden])')
        || document.querySelectorAll('#tx-list li').length >= 20);
    return {
        brand: await text(page, '#brand'),
        tier: await text(page, '#tier'),
        card_no: await text(page, '#card-no'),
        points: await text(page, '#points'),
        balance: await text(page, '#balance'),
        transactions: await page.$$eval('#tx-list li', (l) => l.map((e) => ({
            id: e.dataset.id, type: e.dataset.type, text: e.textContent }))),
        expiring: await page.$$eval('#expiring-list li', (l) => l.map((e) => e.textContent)),
        tiers_shown: await visible(page, '#tiers'),
        tier_progress: await text(page, '#tier-progress-text'),
        coupons_shown: await visible(page, '#coupons'),
        coupons: await page.$$eval('#coupon-list li', (l) => l.map((e) => e.textContent)),
        feedback_shown: await visible(page, '#feedback'),
        wallet_shown: await visible(page, '#wallet'),
        countdown: await text(page, '#countdown'),
        profile_phone: await page.inputValue('#pf-phone'),
    };
}

const scenarios = {
    // the card of a member with a token: numbers, the QR image, the ledger
    async card() {
        const page = await newPage({ token: args.token });
        await page.goto(base + '/card/');
        const seen = await cardView(page);
        // infinite scroll: the rest of the ledger comes as the list is scrolled
        for (let i = 0; i < 20 && !(await visible(page, '#tx-end')); i++) {
            await page.$eval('#tx-more', (e) => e.scrollIntoView());
            await page.waitForTimeout(150);
        }
        seen.transactions = await page.$$eval('#tx-list li', (l) => l.map((e) => ({
            id: e.dataset.id, type: e.dataset.type, text: e.textContent })));
        seen.qr = await qrShot(page, args.name || 'card-qr');
        await shot(page, args.name || 'card', { fullPage: true });
        return seen;
    },

    // the countdown runs down and a new image comes when it ends
    async countdown() {
        const page = await newPage({ token: args.token });
        await page.goto(base + '/card/');
        await cardView(page);
        // from a fresh image on, so that the whole countdown is seen
        await page.waitForFunction(() => Number(/\d+/.exec(
            document.querySelector('#countdown').textContent)) >= 4, null,
        { timeout: (args.period + 5) * 1000 });
        const first = await qrShot(page, 'countdown-1');
        const src = await page.$eval('#qr', (e) => e.src);
        // what the countdown says every half second until the image changes
        const counts = [];
        const end = Date.now() + (args.period + 5) * 1000;
        while (Date.now() < end) {
            // the image and the countdown read together
            const [now, count] = await page.evaluate(() => [document.querySelector('#qr').src,
                document.querySelector('#countdown').textContent]);
            if (now !== src) {
                break;
            }
            counts.push(count);
            await page.waitForTimeout(500);
        }
        await page.waitForFunction(() => document.querySelector('#qr').complete);
        const second = await qrShot(page, 'countdown-2');
        return { first, second, counts, after: await text(page, '#countdown'),
            changed: (await page.$eval('#qr', (e) => e.src)) !== src };
    },

    // demo login as a new visitor, the form's checks, registration (with
    // args.query, e.g. an invite link's ?invite=)
    async register() {
        const page = await newPage();
        await page.goto(base + '/card/' + (args.query || ''));
        await page.waitForSelector('#demo-login:not([hidden])');
        const badge = await text(page, '#demo-login .badge');
        await shot(page, 'register-login');
        await page.click('#demo-login-button');
        await page.waitForSelector('#register:not([hidden])');
        await page.fill('#reg-name', args.name);
        await page.fill('#reg-phone', args.phone);
        await page.click('#register-form button[type=submit]');
        const noConsent = await text(page, '#register-error');
        await page.check('#reg-consent');
        await page.fill('#reg-birthday', '1992-03-04');
        await page.selectOption('#reg-gender', 'female');
        await shot(page, 'register-form', { fullPage: true });
        await page.click('#register-form button[type=submit]');
        const seen = await cardView(page);
        await page.waitForFunction(() => document.querySelector('#pf-name').value);
        seen.profile_name = await page.inputValue('#pf-name');
        seen.profile_phone = await page.inputValue('#pf-phone');
        seen.badge = badge;
        seen.no_consent_error = noConsent;
        seen.token = await page.evaluate(() => sessionStorage.getItem('member_token'));
        // feedback, once a member
        if (args.feedback) {
            await page.waitForSelector('#feedback:not([hidden])');
            await page.selectOption('#fb-rating', '4');
            await page.fill('#fb-text', args.feedback);
            await page.click('#feedback-form button[type=submit]');
            await page.waitForSelector('#feedback-ok:not([hidden])');
            await page.waitForSelector('#feedback-list li');
            seen.feedback_list = await page.$$eval('#feedback-list li', (l) => l.map((e) => e.textContent));
        }
        await shot(page, 'register-card', { fullPage: true });
        return seen;
    },

    // inside WeChat (its user agent, the JS-SDK stubbed): wx.config gets the
    // module's jssdk signature, the wallet button wx.addCard the card-ext
    async wallet() {
        const ua = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 '
            + '(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI Language/zh_CN';
        const out = {};
        const outside = await newPage({ token: args.token });
        await outside.goto(base + '/card/');
        await cardView(outside);
        out.outside_shown = await visible(outside, '#wallet');
        const page = await newPage({ token: args.token, userAgent: ua });
        await page.addInitScript(() => {
            window.wx = {
                config: (c) => { window.wxConfig = c; },
                ready: (f) => setTimeout(f, 0),
                addCard: (o) => { window.wxAddCard = o; o.success({}); },
            };
        });
        await page.goto(args.page_base + '/card/' + (args.query || ''));
        await page.waitForSelector('#wallet:not([hidden])');
        out.config = await page.evaluate(() => window.wxConfig);
        out.url = await page.evaluate(() => location.href.split('#')[0]);
        await page.click('#wallet');
        await page.waitForFunction(() => window.wxAddCard);
        out.add_card = await page.evaluate(() => window.wxAddCard.cardList);
        out.button = await text(page, '#wallet');
        await shot(page, 'wallet');
        return out;
    },

    // the console: sign-in, find a member three ways, recharge, points, tier
    async console_member() {
        const page = await newPage({ mobile: false });
        await page.goto(base + '/console/');
        await page.fill('#token', 'not-the-token');
        await page.click('#signin-form button');
        await page.waitForFunction(() => document.querySelector('#signin-error').textContent);
        const badToken = await text(page, '#signin-error');
        await page.fill('#token', args.admin_token);
        await page.click('#signin-form button');
        await page.waitForSelector('#members:not([hidden])');
        const found = {};
        for (const [by, q] of [['phone', args.phone], ['openid', args.openid], ['card_no', args.card_no]]) {
            await page.selectOption('#find-by', by);
            await page.fill('#find-q', q);
            await page.click('#find-form button');
            await page.waitForSelector(`#member-fields dd[data-field=card_no]`);
            await page.waitForFunction((c) => document.querySelector('#member-fields dd[data-field=card_no]')
                .textContent === c, args.card_no);
            found[by] = await text(page, '#member-fields dd[data-field=member_id]');
        }
        await page.selectOption('#find-by', 'card_no');
        await page.fill('#find-q', '8800000000099999');
        await page.click('#find-form button');
        await page.waitForFunction(() => document.querySelector('#find-error').textContent);
        const notFound = await text(page, '#find-error');
        await page.fill('#find-q', args.card_no);
        await page.click('#find-form button');
        await page.waitForSelector('#member-detail:not([hidden])');
        await page.fill('#recharge-yuan', args.recharge_yuan);
        await page.click('#recharge-form button');
        await page.waitForFunction(() => document.querySelector('#recharge-ok').textContent);
        const recharged = await text(page, '#recharge-ok');
        await page.fill('#points-delta', String(args.points_delta));
        await page.click('#points-form button');
        const noReason = await text(page, '#points-error');
        await page.fill('#points-reason', 'goodwill');
        await page.click('#points-form button');
        await page.waitForFunction(() => document.querySelector('#points-ok').textContent);
        // the record reloaded after the adjustment resets the tier's choice
        await page.waitForFunction((p) => document.querySelector('#member-fields dd[data-field=points]')
            .textContent === p, String(args.points_delta));
        await page.selectOption('#level-select', 'platinum');
        await page.fill('#level-reason', 'VIP');
        await page.click('#level-form button');
        await page.waitForFunction(() => document.querySelector('#level-ok').textContent);
        await page.waitForFunction(() => document.querySelector('#member-fields dd[data-field=level]')
            .textContent === 'platinum');
        const balance = await text(page, '#member-fields dd[data-field=balance_fen]');
        const ledger = await page.$$eval('#ledger tr', (l) => l.map((e) => e.dataset.id));
        // the balance chart: what ECharts was given
        const chart = await page.evaluate(() => window.memberCharts.balance.getOption().series[0].data);
        await shot(page, 'console-member', { fullPage: true });
        return { bad_token: badToken, found, not_found: notFound, recharged, no_reason: noReason,
            balance, ledger, chart };
    },

    // a store's key: finds by card number or phone, sees the till's view
    async console_till() {
        const page = await newPage({ adminToken: args.admin_token, mobile: false });
        await page.goto(base + '/console/');
        await page.waitForSelector('#members:not([hidden])');
        await page.waitForFunction(() => document.querySelector('#who').textContent.includes('store'));
        const options = await page.$$eval('#find-by option', (l) => l.filter((o) => !o.hidden)
            .map((o) => o.value));
        const seen = {};
        for (const [by, q] of [['card_no', args.card_no], ['phone', args.phone]]) {
            await page.selectOption('#find-by', by);
            await page.fill('#find-q', q);
            await page.click('#find-form button');
            await page.waitForSelector('#member-detail:not([hidden]) #member-fields dd[data-field=card_no]');
            seen[by] = Object.fromEntries(await page.$$eval('#member-fields dd',
                (l) => l.map((d) => [d.dataset.field, d.textContent])));
        }
        const ledger = await visible(page, '#ledger');
        const recharge = await visible(page, '#recharge-form');
        await shot(page, 'console-till', { fullPage: true });
        return { options, seen, ledger, recharge };
    },

    // the rules editor: a bad rule shows its field, a good one saves
    async console_rules() {
        const page = await newPage({ adminToken: args.admin_token, mobile: false });
        await page.goto(base + '/console/#rules');
        await page.waitForFunction(() => document.querySelector('#rules-json').value);
        const before = await text(page, '#rules-version');
        const rules = JSON.parse(await page.inputValue('#rules-json'));
        rules.tiers[1].discount_pct = 180;
        await page.fill('#rules-json', JSON.stringify(rules, null, 2));
        await page.click('#rules-save');
        await page.waitForFunction(() => document.querySelector('#rules-error').textContent);
        const bad = { text: await text(page, '#rules-error'),
            field: await page.$eval('#rules-error', (e) => e.dataset.field),
            // the editor selects the field at fault, and its line
            selected: await page.$eval('#rules-json', (e) => e.value.slice(e.selectionStart, e.selectionEnd)),
            line: await page.$eval('#rules-json', (e) => {
                const start = e.value.lastIndexOf('\n', e.selectionStart) + 1;
                return e.value.slice(start, e.value.indexOf('\n', e.selectionStart));
            }) };
        await shot(page, 'console-rules-bad');
        await page.fill('#rules-json', '{"tiers": [');
        await page.click('#rules-save');
        const badJson = await text(page, '#rules-error');
        rules.tiers[1].discount_pct = 97;
        rules.recharge_bonus[0].bonus_fen = 6000;
        await page.fill('#rules-json', JSON.stringify(rules, null, 2));
        await page.click('#rules-save');
        await page.waitForFunction(() => document.querySelector('#rules-ok').textContent);
        return { before, bad, bad_json: badJson, ok: await text(page, '#rules-ok'),
            after: await text(page, '#rules-version') };
    },

    // a store: created, its secret shown once, listed without it
    async console_store() {
        const page = await newPage({ adminToken: args.admin_token, mobile: false });
        await page.goto(base + '/console/#stores');
        await page.fill('#store-id', args.store_id);
        await page.fill('#store-name', args.store_name);
        await page.click('#store-form button');
        await page.waitForSelector('#store-secret-box:not([hidden])');
        const secret = await text(page, '#store-secret');
        await page.waitForSelector(`#store-list tr[data-store="${args.store_id}"]`);
        const listed = await text(page, `#store-list tr[data-store="${args.store_id}"]`);
        await page.fill('#store-id', args.store_id);
        await page.fill('#store-name', 'again');
        await page.click('#store-form button');
        await page.waitForFunction(() => document.querySelector('#store-error').textContent);
        const again = await text(page, '#store-error');
        await page.reload();
        await page.waitForSelector(`#store-list tr[data-store="${args.store_id}"]`);
        const html = await page.content();
        return { secret, listed, again, secret_after_reload: html.includes(secret) };
    },

    // a new secret for a store, shown once as well
    async console_store_rotate() {
        const page = await newPage({ adminToken: args.admin_token, mobile: false });
        await page.goto(base + '/console/#stores');
        await page.click(`#store-list button[data-rotate="${args.store_id}"]`);
        await page.waitForSelector('#store-secret-box:not([hidden])');
        return { rotated: await text(page, '#store-secret') };
    },

    // a coupon template made and issued to a member
    async console_coupons() {
        const page = await newPage({ adminToken: args.admin_token, mobile: false });
        await page.goto(base + '/console/#coupons');
        await page.waitForSelector('#coupons-body:not([hidden])');
        await page.fill('#tpl-name', args.name);
        await page.fill('#tpl-yuan', args.yuan);
        await page.fill('#tpl-min', args.min_yuan);
        await page.fill('#tpl-days', String(args.days));
        await page.click('#template-form button');
        const row = await page.waitForSelector(`#template-list tr:has-text("${args.name}")`);
        const id = await row.evaluate((e) => e.dataset.template);
        const terms = await row.evaluate((e) => e.children[2].textContent);
        await page.fill(`#template-list tr[data-template="${id}"] input`, args.member_id);
        await page.click(`#template-list tr[data-template="${id}"] button`);
        await page.waitForFunction(() => document.querySelector('#issue-ok').textContent);
        await shot(page, 'console-coupons', { fullPage: true });
        return { template_id: id, terms, issued: await text(page, '#issue-ok') };
    },

    // the audit log, all of it and for one member
    async console_audit() {
        const page = await newPage({ adminToken: args.admin_token, mobile: false });
        await page.goto(base + '/console/#audit');
        await page.waitForSelector('#audit-list tr');
        const who = await text(page, '#who');
        const all = await page.$$eval('#audit-list tr', (l) => l.map((e) => e.dataset.id));
        await page.fill('#audit-target', args.target);
        await page.click('#audit-form button');
        await page.waitForFunction((n) => document.querySelectorAll('#audit-list tr').length !== n
            || document.querySelector('#audit-list tr td:nth-child(3)').textContent.includes('members/'),
        all.length);
        await page.waitForTimeout(300);
        const rows = await page.$$eval('#audit-list tr', (l) => l.map((e) => ({ id: e.dataset.id,
            text: Array.from(e.children, (c) => c.textContent) })));
        await shot(page, 'console-audit', { fullPage: true });
        return { who, all, rows };
    },

    // the reports: what the charts were given, and the totals shown
    async console_reports() {
        const page = await newPage({ adminToken: args.admin_token, mobile: false });
        await page.goto(base + '/console/#reports');
        await page.waitForFunction(() => document.querySelector('#chart-tiers').dataset.rendered
            || document.querySelector('#reports-error').textContent);
        await page.waitForTimeout(300);
        const option = (name) => page.evaluate((n) => {
            const c = window.memberCharts[n];
            return c ? c.getOption().series.map((s) => s.data) : null;
        }, name);
        const out = {
            error: await text(page, '#reports-error'),
            totals: await page.$$eval('#totals strong', (l) => Object.fromEntries(l.map((e) =>
                [e.dataset.total, e.textContent]))),
            tiers: await option('tiers'),
            liabilities: await option('liabilities'),
            members: await option('members'),
            money: await option('money'),
            segments: await option('segments'),
            canvases: await page.$$eval('#reports canvas', (l) => l.length),
        };
        await shot(page, 'console-reports', { fullPage: true });
        return out;
    },
};

async function run(line) {
    let result = null;
    problems = [];
    try {
        const req = JSON.parse(line);
        args = req.args || {};
        base = args.base;
        if (!scenarios[req.scenario]) {
            throw new Error('no such scenario: ' + req.scenario);
        }
        result = await scenarios[req.scenario]();
    } catch (e) {
        problems.push(String((e && e.stack) || e));
    }
    await Promise.allSettled(contexts.splice(0).map((c) => c.close()));
    process.stdout.write(JSON.stringify({ result, problems }) + '\n');
}

process.stdout.write(JSON.stringify({ ready: browser.version() }) + '\n');
for await (const line of readline.createInterface({ input: process.stdin })) {
    if (line.trim()) {
        await run(line);
    }
}
await browser.close();
