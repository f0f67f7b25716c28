// tests/bench/sharp-server.js PORT STORE: the peer that `make bench`
// measures image-server against.  A plain node http server on 127.0.0.1:PORT
// that answers our own URLs,
//
//   GET /{model}/{field}/{id}/{spec}.{format}    spec: wN, xN or WxH
//
// by reading the original from image-server's store layout
// (STORE/{model}/{field}/{s1}/{s2}/{id}/original, read only) and making the
// output with sharp (libvips), on every request: no cache of any kind
// (sharp.cache(false)), nothing written.  It does what lib/image.c does:
// EXIF orientation applied, transparency flattened onto white, wN = N wide
// (never wider than the original), xN and WxH = centre crop that fills,
// Lanczos (sharp's default lanczos3), metadata stripped (sharp's default),
// quality 75, not interlaced; a GIF's first frame only, as ours (sharp's
// default page 0).  GET /health answers "ok" plus the versions.
// sharp's own defaults are kept (libvips threads per image and the libuv
// pool of 4, unless UV_THREADPOOL_SIZE says otherwise): what a user gets.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const port = Number(process.argv[2]);
const store = process.argv[3];
if (!port || !store) {
	console.error('usage: node sharp-server.js PORT STORE');
	process.exit(2);
}
sharp.cache(false);

const TYPES = { jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', png: 'image/png', gif: 'image/gif' };
const URL_RE = /^\/([a-z0-9_]{1,32})\/([a-z0-9_]{1,32})\/([0-9A-Za-z_-]{1,64})\/(?:w([1-9][0-9]{0,4})|x([1-9][0-9]{0,4})|([1-9][0-9]{0,4})x([1-9][0-9]{0,4}))\.(jpg|jpeg|webp|png|gif)$/;

// The store's shard directories: the id left-padded with "_" to 4
// characters; s1 is its last two characters, s2 the two before them.
function originalPath(model, field, id) {
	const p = id.padStart(4, '_');
	const s1 = p.slice(-2), s2 = p.slice(-4, -2);
	return path.join(store, model, field, s1, s2, id, 'original');
}

function fail(res, code, msg) {
	res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
	res.end(msg + '\n');
}

async function make(m) {
	const [, model, field, id, wN, xN, bw, bh, fmt] = m;
	const data = await fs.promises.readFile(originalPath(model, field, id));
	let img = sharp(data, { failOn: 'error' }).autoOrient()
		.flatten({ background: '#ffffff' });
	if (wN)
		img = img.resize({ width: Number(wN), withoutEnlargement: true });
	else
		img = img.resize({
			width: Number(xN || bw), height: Number(xN || bh),
			fit: 'cover', position: 'centre', withoutEnlargement: true,
		});
	if (fmt === 'webp')
		img = img.webp({ quality: 75 });
	else if (fmt === 'png')
		img = img.png();
	else if (fmt === 'gif')
		img = img.gif();
	else
		img = img.jpeg({ quality: 75, progressive: false });
	return img.toBuffer();
}

const server = http.createServer((req, res) => {
	if (req.url === '/health') {
		res.writeHead(200, { 'Content-Type': 'text/plain' });
		res.end(`ok sharp ${sharp.versions.sharp} libvips ${sharp.versions.vips} ` +
			`concurrency ${sharp.concurrency()}\n`);
		return;
	}
	const m = URL_RE.exec(req.url);
	if (req.method !== 'GET' || !m)
		return fail(res, 400, 'bad request');
	make(m).then((out) => {
		res.writeHead(200, {
			'Content-Type': TYPES[m[8]],
			'Content-Length': out.length,
		});
		res.end(out);
	}, (err) => {
		fail(res, err.code === 'ENOENT' ? 404 : 422, String(err.message || err));
	});
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
	console.error(`sharp-server: 127.0.0.1:${port}, store ${store}`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => {
		server.close(() => process.exit(0));
		server.closeAllConnections();
	});
