#!/usr/bin/env node
// pages.mjs SRC OUT : builds the card page and the console for nginx.
//
// Every file an index.html names (scripts, style sheets, and what the
// scripts import) is copied to OUT/assets/ under a name that carries a hash
// of its content, so that nginx can let browsers keep it for a year
// (Cache-Control: immutable): a change makes a new name.  The index.html
// files themselves keep their names (served no-cache) and name the hashed
// files.  A module's imports are renamed before the module is hashed, so a
// change deep in the graph renames everything that leads to it.  No
// bundler: the pages are plain ES modules; ECharts comes from node_modules
// (npm ci, package-lock.json) as its own ES module file.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const [src, out] = process.argv.slice(2).map((p) => path.resolve(p));
if (!src || !out) {
    console.error('usage: pages.mjs SRC OUT');
    process.exit(2);
}

const assets = path.join(out, 'assets');
const done = new Map();          // absolute source path -> hashed name
const IMPORT = /(\bfrom\s*|\bimport\s*)(['"])(\.{1,2}\/[^'"]+)\2/g;
const REF = /(<(?:script|link)\b[^>]*?\b(?:src|href)=)"(\.{1,2}\/[^"]+)"/g;

function hashed(file, seen = new Set()) {
    if (done.has(file)) {
        return done.get(file);
    }
    if (seen.has(file)) {
        throw new Error(`import cycle through ${file}`);
    }
    seen.add(file);
    let body = fs.readFileSync(file);
    if (/\.m?js$/.test(file)) {
        body = Buffer.from(body.toString('utf8').replace(IMPORT, (m, kw, q, spec) =>
            kw + q + './' + hashed(path.resolve(path.dirname(file), spec), seen) + q));
    }
    const digest = createHash('sha256').update(body).digest('hex').slice(0, 12);
    const ext = path.extname(file) === '.mjs' ? '.js' : path.extname(file);
    const base = path.basename(file).replace(/(\.min)?\.m?[a-z]+$/, '');
    const name = `${base}.${digest}${ext}`;
    fs.writeFileSync(path.join(assets, name), body);
    done.set(file, name);
    return name;
}

function page(dir) {
    const file = path.join(src, dir, 'index.html');
    const html = fs.readFileSync(file, 'utf8').replace(REF, (m, tag, ref) =>
        `${tag}"/assets/${hashed(path.resolve(path.dirname(file), ref))}"`);
    fs.mkdirSync(path.join(out, dir), { recursive: true });
    fs.writeFileSync(path.join(out, dir, 'index.html'), html);
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(assets, { recursive: true });
for (const dir of fs.readdirSync(src)) {
    if (fs.existsSync(path.join(src, dir, 'index.html'))) {
        page(dir);
    }
}
console.log(`pages: ${done.size} assets in ${path.relative(process.cwd(), out) || out}`);
