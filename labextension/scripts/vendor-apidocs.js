#!/usr/bin/env node
/*
 * Copies Swagger UI (npm package swagger-ui-dist, pinned in yarn.lock) into the backend
 * package, where /api/v1/docs serves it: the API reference page then needs no CDN and works in
 * an offline TRE. Runs as part of `jlpm build:prod` (and so of the wheel build); the copies are
 * git-ignored build output.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const src = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const out = path.resolve(__dirname, '..', '..', 'backend', 'trevor_backend', 'static', 'apidocs', 'vendor');
fs.mkdirSync(out, { recursive: true });
for (const name of ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE', 'package.json']) {
  fs.copyFileSync(path.join(src, name), path.join(out, name));
}
console.log(`vendored swagger-ui-dist ${require(path.join(src, 'package.json')).version} into ${out}`);
