// Some npm packages ship .go files (flatted does). A go.mod at the root of
// node_modules makes it a module of its own, so `go build/vet/test ./...`
// in the repository never sees them.
import { existsSync, writeFileSync } from 'node:fs';

const dir = new URL('../node_modules/', import.meta.url);
if (existsSync(dir)) writeFileSync(new URL('go.mod', dir), 'module chorus.invalid/node_modules\n');
