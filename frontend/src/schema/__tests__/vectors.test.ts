// The shared validation vectors (schemas/vectors/patient_validation.json), whose expectations
// are what the server's lua/sova/sandboxed/schema.lua answers (spec/unit/validation_vectors_spec.lua runs
// the same file there): validate.ts must give the same value or the same reason for every one.
import { describe, expect, it } from 'vitest';
import type { FieldDef } from '../../api/types';
import { checkFieldValue, validatePatient } from '../validate';
import vectorsJson from '../../../../schemas/vectors/patient_validation.json';

interface ValueVector {
  name: string;
  field: FieldDef;
  value?: unknown;
  expect: { ok: true; value: unknown } | { ok: false; reason: string };
}
interface DocumentVector {
  name: string;
  schema?: string;
  fields?: FieldDef[];
  mode: 'create' | 'update';
  input: unknown;
  expect: { ok: true; doc: Record<string, unknown> } | { ok: false; errors: Record<string, string> };
}
interface Vectors {
  schemas: Record<string, FieldDef[]>;
  values: ValueVector[];
  documents: DocumentVector[];
}

const vectors = vectorsJson as unknown as Vectors;

describe('shared validation vectors: values', () => {
  it.each(vectors.values.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const r = checkFieldValue(v.field, v.value);
    expect(r.ok ? { ok: true, value: r.value } : { ok: false, reason: r.reason }).toEqual(v.expect);
  });
});

describe('shared validation vectors: documents', () => {
  it.each(vectors.documents.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const fields = v.fields ?? vectors.schemas[v.schema ?? ''];
    expect(fields).toBeDefined();
    const r = validatePatient(fields, v.input, v.mode);
    expect(r.ok ? { ok: true, doc: r.doc } : { ok: false, errors: r.errors }).toEqual(v.expect);
  });
});
