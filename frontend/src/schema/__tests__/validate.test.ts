// What the shared vectors (vectors.test.ts) cannot carry, because JSON has no such values: the
// server refuses them with the same reasons (spec/unit/schema_spec.lua, "non-finite").
import { describe, expect, it } from 'vitest';
import type { FieldDef } from '../../api/types';
import { checkFieldValue } from '../validate';

const number: FieldDef = { key: 'n', label: 'N', type: 'number' };

describe('values JSON cannot carry', () => {
  it('a number field wants a finite number', () => {
    for (const v of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN]) {
      expect(checkFieldValue(number, v)).toEqual({ ok: false, reason: 'must be a finite number' });
    }
  });
});
