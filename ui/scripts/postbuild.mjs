// Pre-compresses the build for internal/web (which serves the .br or .gz
// sibling the client accepts) and keeps dist/.gitkeep, the placeholder that
// lets `go build` embed dist on a fresh clone.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, extname } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url).pathname;
const compressible = new Set(['.js', '.mjs', '.css', '.svg', '.json', '.txt', '.map', '.webmanifest']);

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

let n = 0;
for (const file of files(dist)) {
  // index.html is rendered per response (its nonce), so it is not pre-compressed.
  if (!compressible.has(extname(file))) continue;
  const data = readFileSync(file);
  writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }));
  writeFileSync(`${file}.br`, brotliCompressSync(data, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
  }));
  n++;
}
writeFileSync(join(dist, '.gitkeep'), '');
console.log(`postbuild: compressed ${n} files (gzip + brotli), kept dist/.gitkeep`);
