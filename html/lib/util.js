// What both pages share: calls to the module's JSON APIs, texts in Chinese
// with an English fallback, money, times and DOM building without HTML
// strings (nothing a member or an API sends is ever parsed as markup).

export class ApiError extends Error {
    constructor(status, body) {
        super((body && body.message) || `HTTP ${status}`);
        this.status = status;
        this.code = (body && body.error) || 'http_' + status;
        this.body = body;
    }
}

// One call: JSON in and out; the answer's JSON error as an ApiError.
export async function call(method, url, { token, body } = {}) {
    const headers = { Accept: 'application/json' };
    if (token) {
        headers.Authorization = 'Bearer ' + token;
    }
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
    }
    const r = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
    });
    const text = await r.text();
    let data = null;
    try {
        data = text ? JSON.parse(text) : null;
    } catch {
        data = null;
    }
    if (!r.ok) {
        throw new ApiError(r.status, data);
    }
    return data;
}

// Chinese unless the browser asks for another language; then English.
export const lang = /^zh\b/i.test(navigator.language || 'zh') ? 'zh' : 'en';

export function texts(dict) {
    return (key, vars = {}) => {
        const s = (dict[lang] && dict[lang][key]) ?? dict.zh[key] ?? key;
        return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    };
}

// data-t="key": the text; data-tp="key": the placeholder
export function translate(root, t) {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    for (const e of root.querySelectorAll('[data-t]')) {
        e.textContent = t(e.dataset.t);
    }
    for (const e of root.querySelectorAll('[data-tp]')) {
        e.placeholder = t(e.dataset.tp);
    }
}

// integer fen as yuan, without floating point
export function yuan(fen) {
    const n = BigInt(fen || 0);
    const neg = n < 0n;
    const a = neg ? -n : n;
    const cents = String(a % 100n).padStart(2, '0');
    return (neg ? '-' : '') + (a / 100n).toLocaleString('en-US') + '.' + cents;
}

// "¥12.00" from fen, or a yuan string like "12.5" to integer fen (null if bad)
export const money = (fen) => (BigInt(fen || 0) < 0n ? '-¥' + yuan(-BigInt(fen)) : '¥' + yuan(fen));

export function toFen(text) {
    const m = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(text || '');
    if (!m) {
        return null;
    }
    return Number(m[1]) * 100 + Number((m[2] || '0').padEnd(2, '0'));
}

// unix seconds as a China-time date (and time)
export function date(ts, withTime = false) {
    const d = new Date(ts * 1000);
    const opt = { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' };
    if (withTime) {
        Object.assign(opt, { hour: '2-digit', minute: '2-digit', hour12: false });
    }
    return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-CA', opt);
}

// el('li', {class: 'x', dataset: {id: 1}}, 'text', child...)
export function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) {
            continue;
        }
        if (k === 'dataset') {
            Object.assign(e.dataset, v);
        } else if (k.startsWith('on')) {
            e.addEventListener(k.slice(2), v);
        } else if (k === 'text') {
            e.textContent = v;
        } else {
            e.setAttribute(k, v === true ? '' : v);
        }
    }
    for (const c of children.flat()) {
        if (c !== null && c !== undefined && c !== false) {
            e.append(c instanceof Node ? c : String(c));
        }
    }
    return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function show(node, on = true) {
    node.hidden = !on;
}

// the form's named fields as an object of trimmed strings
export function fields(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) {
        out[k] = typeof v === 'string' ? v.trim() : v;
    }
    return out;
}

// a file the browser saves, made here (no server round trip)
export function download(name, text, type = 'application/json') {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
}
