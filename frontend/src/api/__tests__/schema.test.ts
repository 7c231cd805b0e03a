// src/api/schema.d.ts is generated from schemas/openapi.json (npm run gen:api) and committed:
// regenerating it must give the same file, so the web UI's types cannot drift from the document.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const frontend = resolve(__dirname, '..', '..', '..');

describe('src/api/schema.d.ts', () => {
  it('is what openapi-typescript makes of schemas/openapi.json now (else: npm run gen:api)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sova-gen-api-'));
    try {
      const out = join(dir, 'schema.d.ts');
      const cli = join(frontend, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
      execFileSync(process.execPath, [cli, join(frontend, '..', 'schemas', 'openapi.json'), '-o', out], {
        stdio: 'pipe',
      });
      const committed = readFileSync(join(frontend, 'src', 'api', 'schema.d.ts'), 'utf8');
      expect(readFileSync(out, 'utf8')).toBe(committed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
