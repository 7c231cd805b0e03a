// The patient form comes from the schema: an input per field of the right kind, required
// markers, the server's rules checked before sending, the server's 422 shown beside fields,
// and an edit that sends only what changed.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { PatientForm } from '../PatientForm';
import { ApiError } from '../../api/client';
import type { FieldDef } from '../../api/types';
import { SCHEMA } from '../../test/fixtures';
import { valuesFromPatient } from '../../schema/fields';

const byKey = (k: string) => SCHEMA.find((f) => f.key === k)!;
const input = (f: FieldDef) => screen.getByLabelText(new RegExp(`^${f.label}`)) as HTMLInputElement;

function renderForm(onSubmit = vi.fn().mockResolvedValue(undefined), fields = SCHEMA) {
  render(<PatientForm fields={fields} mode="create" submitLabel="Save" onSubmit={onSubmit} />);
  return onSubmit;
}

const fieldBox = (f: FieldDef) => document.querySelector(`[data-field="${f.key}"]`) as HTMLElement;

describe('rendering from the schema', () => {
  it('gives each type its own input', () => {
    renderForm();
    const expected: Record<string, { tag: string; type?: string }> = {
      string: { tag: 'INPUT', type: 'text' },
      date: { tag: 'INPUT', type: 'date' },
      datetime: { tag: 'INPUT', type: 'datetime-local' },
      select: { tag: 'SELECT' },
      number: { tag: 'INPUT', type: 'number' },
      boolean: { tag: 'INPUT', type: 'checkbox' },
      phone: { tag: 'INPUT', type: 'tel' },
      email: { tag: 'INPUT', type: 'email' },
    };
    for (const f of SCHEMA) {
      const el = input(f);
      expect(el.tagName, f.type).toBe(expected[f.type].tag);
      if (expected[f.type].type) expect(el.getAttribute('type'), f.type).toBe(expected[f.type].type);
      expect(el.getAttribute('name')).toBe(f.key);
    }
  });

  it('lays the fields out in display_order', () => {
    renderForm();
    const order = Array.from(document.querySelectorAll('[data-field]')).map((e) => e.getAttribute('data-field'));
    const want = [...SCHEMA].sort((a, b) => a.display_order! - b.display_order!).map((f) => f.key);
    expect(order).toEqual(want);
  });

  it('marks required fields, for the eye and for screen readers', () => {
    renderForm();
    for (const f of SCHEMA) {
      const el = input(f);
      expect(el.getAttribute('aria-required'), f.key).toBe(f.required ? 'true' : null);
      expect(fieldBox(f).querySelector('.required') !== null, f.key).toBe(Boolean(f.required));
    }
  });

  it('offers a select its options with its default chosen, and a blank choice when optional', () => {
    renderForm();
    const f = byKey('delta_choice');
    const sel = input(f) as unknown as HTMLSelectElement;
    expect(Array.from(sel.options).map((o) => o.value)).toEqual(['', ...f.options!]);
    expect(sel.value).toBe(f.default);
  });

  it('starts a checkbox at its default and a number with min and max', () => {
    renderForm();
    expect(input(byKey('zeta_flag')).checked).toBe(false);
    const n = input(byKey('epsilon_amount'));
    expect(n.min).toBe('0');
    expect(n.max).toBe('10');
    expect(within(fieldBox(byKey('epsilon_amount'))).getByText('From 0 to 10')).toBeTruthy();
  });

  it("shows a field's help, and an E.164 hint for phones without one", () => {
    const plainPhone: FieldDef = { key: 'iota_line', label: 'Iota Line', type: 'phone' };
    renderForm(undefined, [...SCHEMA, plainPhone]);
    expect(within(fieldBox(byKey('eta_line'))).getByText('Any reachable number')).toBeTruthy();
    const hint = within(fieldBox(plainPhone)).getByText(/E\.164/);
    expect(input(plainPhone).getAttribute('aria-describedby')).toContain(hint.id);
  });
});

describe('checks before sending', () => {
  it('names every missing required field beside it and sends nothing', async () => {
    const onSubmit = renderForm();
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    for (const f of SCHEMA.filter((x) => x.required)) {
      expect(within(fieldBox(f)).getByText('This field is required.')).toBeTruthy();
      expect(input(f).getAttribute('aria-invalid')).toBe('true');
    }
    for (const f of SCHEMA.filter((x) => !x.required)) expect(fieldBox(f).querySelector('.error-text')).toBeNull();
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByRole('alert').textContent).toContain('Some fields need attention');
  });

  it('refuses a phone that is not E.164, an odd email, and a number out of range', async () => {
    const user = userEvent.setup();
    const onSubmit = renderForm();
    await user.type(input(byKey('alpha_text')), 'Some text');
    fireEvent.change(input(byKey('beta_day')), { target: { value: '2020-05-06' } });
    await user.type(input(byKey('eta_line')), '516 555 1234');
    await user.type(input(byKey('theta_mail')), 'someone@nowhere');
    await user.type(input(byKey('epsilon_amount')), '11');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(within(fieldBox(byKey('eta_line'))).getByText('Phone must be E.164, e.g. +15165551234.')).toBeTruthy();
    expect(within(fieldBox(byKey('theta_mail'))).getByText('Must be a valid email address.')).toBeTruthy();
    expect(within(fieldBox(byKey('epsilon_amount'))).getByText('Must be at most 10.')).toBeTruthy();
    expect(onSubmit).not.toHaveBeenCalled();
    // the first field in error has the focus
    await waitFor(() => expect(document.activeElement).toBe(input(byKey('epsilon_amount'))));
  });

  it('refuses text longer than max_length', async () => {
    const user = userEvent.setup();
    renderForm();
    await user.type(input(byKey('alpha_text')), 'x'.repeat(21));
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(within(fieldBox(byKey('alpha_text'))).getByText('Must be at most 20 characters.')).toBeTruthy();
  });

  it('sends typed values: numbers as numbers, checkboxes as booleans, the select default', async () => {
    const user = userEvent.setup();
    const onSubmit = renderForm();
    await user.type(input(byKey('alpha_text')), 'Some text');
    fireEvent.change(input(byKey('beta_day')), { target: { value: '2020-05-06' } });
    fireEvent.change(input(byKey('gamma_moment')), { target: { value: '2026-12-01T10:30' } });
    await user.type(input(byKey('eta_line')), '+1 516 555 1234');
    await user.type(input(byKey('epsilon_amount')), '7.5');
    await user.click(input(byKey('zeta_flag')));
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(onSubmit).toHaveBeenCalledTimes(1);
    expect(onSubmit.mock.calls[0][0]).toEqual({
      alpha_text: 'Some text',
      beta_day: '2020-05-06',
      gamma_moment: '2026-12-01T10:30',
      delta_choice: 'Green',
      epsilon_amount: 7.5,
      zeta_flag: true,
      eta_line: '+1 516 555 1234',
    });
  });
});

describe("the server's answer", () => {
  it('shows 422 field errors beside their fields', async () => {
    const user = userEvent.setup();
    const onSubmit = vi
      .fn()
      .mockRejectedValue(new ApiError(422, 'validation_failed', 'some fields are not valid', { alpha_text: 'already taken' }));
    renderForm(onSubmit);
    await user.type(input(byKey('alpha_text')), 'Some text');
    fireEvent.change(input(byKey('beta_day')), { target: { value: '2020-05-06' } });
    await user.type(input(byKey('eta_line')), '+15165551234');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(await within(fieldBox(byKey('alpha_text'))).findByText('Already taken.')).toBeTruthy();
    expect(input(byKey('alpha_text')).getAttribute('aria-invalid')).toBe('true');
  });

  it('says plainly what went wrong otherwise', async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn().mockRejectedValue(new ApiError(503, 'audit_unavailable', 'cannot record this access; nothing was served'));
    renderForm(onSubmit);
    await user.type(input(byKey('alpha_text')), 'Some text');
    fireEvent.change(input(byKey('beta_day')), { target: { value: '2020-05-06' } });
    await user.type(input(byKey('eta_line')), '+15165551234');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect((await screen.findByRole('alert')).textContent).toContain('cannot record this access');
  });
});

describe('editing', () => {
  const patient = {
    id: 'p1',
    workflow: 'wf_one',
    call_status: 'Not Started',
    created_at: '2026-11-30T09:00:00.000Z',
    updated_at: '2026-11-30T09:00:00.000Z',
    alpha_text: 'Before',
    beta_day: '2020-05-06',
    gamma_moment: '2026-12-01T10:30:00Z',
    delta_choice: 'Red',
    epsilon_amount: 3,
    zeta_flag: false,
    eta_line: '+15165551234',
    theta_mail: 'a@b.org',
  };

  function renderEdit(onSubmit = vi.fn().mockResolvedValue(undefined), onNothingChanged = vi.fn()) {
    render(
      <PatientForm
        fields={SCHEMA}
        mode="update"
        initial={valuesFromPatient(SCHEMA, patient)}
        submitLabel="Save"
        onSubmit={onSubmit}
        onNothingChanged={onNothingChanged}
      />,
    );
    return { onSubmit, onNothingChanged };
  }

  it('fills the inputs from the patient', () => {
    renderEdit();
    expect(input(byKey('alpha_text')).value).toBe('Before');
    expect(input(byKey('gamma_moment')).value).toBe('2026-12-01T10:30');
    expect((input(byKey('delta_choice')) as unknown as HTMLSelectElement).value).toBe('Red');
    expect(input(byKey('epsilon_amount')).value).toBe('3');
  });

  it('sends only the fields that changed; a cleared optional field is sent as null', async () => {
    const user = userEvent.setup();
    const { onSubmit } = renderEdit();
    await user.clear(input(byKey('alpha_text')));
    await user.type(input(byKey('alpha_text')), 'After');
    await user.clear(input(byKey('theta_mail')));
    await user.click(input(byKey('zeta_flag')));
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(onSubmit.mock.calls[0][0]).toEqual({ alpha_text: 'After', theta_mail: null, zeta_flag: true });
  });

  it('refuses to clear a required field', async () => {
    const user = userEvent.setup();
    const { onSubmit } = renderEdit();
    await user.clear(input(byKey('alpha_text')));
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(within(fieldBox(byKey('alpha_text'))).getByText('This field is required.')).toBeTruthy();
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it('sends nothing when nothing changed', async () => {
    const user = userEvent.setup();
    const { onSubmit, onNothingChanged } = renderEdit();
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(onNothingChanged).toHaveBeenCalledTimes(1);
  });
});
