// The patient list's table: one column per display_in_list field, in display_order, then the
// call status. The first cell links to the patient (keyboard users tab through the links);
// clicking anywhere on a row opens it too. With `selected`, a first column of checkboxes picks
// patients (for a campaign).
import { Link, useNavigate } from 'react-router-dom';
import type { FieldDef, Patient } from '../api/types';
import { EMPTY, formatValue, listColumns } from '../schema/fields';
import { StatusBadge } from './StatusBadge';

interface Props {
  fields: FieldDef[];
  patients: Patient[];
  caption?: string;
  selected?: Set<string>;
  onToggle?: (id: string, on: boolean) => void;
}

// the row as a screen reader names it: its first shown value, else "this patient"
function rowName(columns: FieldDef[], p: Patient): string {
  for (const c of columns) {
    const text = formatValue(c, p[c.key]);
    if (text !== EMPTY) return text;
  }
  return 'this patient';
}

export function PatientTable({ fields, patients, caption, selected, onToggle }: Props) {
  const columns = listColumns(fields);
  const navigate = useNavigate();
  return (
    <div className="table-wrap">
      <table className="table patient-table">
        {caption && <caption className="sr-only">{caption}</caption>}
        <thead>
          <tr>
            {selected && (
              <th scope="col">
                <span className="sr-only">Select</span>
              </th>
            )}
            {columns.length === 0 && <th scope="col">Patient</th>}
            {columns.map((c) => (
              <th scope="col" key={c.key} data-key={c.key}>
                {c.label}
              </th>
            ))}
            <th scope="col">Call status</th>
          </tr>
        </thead>
        <tbody>
          {patients.map((p) => {
            const href = `/patients/${encodeURIComponent(p.id)}`;
            return (
              <tr
                key={p.id}
                className="clickable"
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest('a, input, label')) return;
                  navigate(href);
                }}
              >
                {selected && (
                  <td className="select-cell">
                    <input
                      type="checkbox"
                      aria-label={`Select ${rowName(columns, p)}`}
                      checked={selected.has(p.id)}
                      onChange={(e) => onToggle?.(p.id, e.target.checked)}
                    />
                  </td>
                )}
                {columns.length === 0 && (
                  <td>
                    <Link to={href}>View patient</Link>
                  </td>
                )}
                {columns.map((c, i) => {
                  const text = formatValue(c, p[c.key]);
                  return (
                    <td key={c.key} data-key={c.key}>
                      {i === 0 ? (
                        <Link to={href} className="row-link">
                          {text === EMPTY ? 'View patient' : text}
                        </Link>
                      ) : (
                        text
                      )}
                    </td>
                  );
                })}
                <td>
                  <StatusBadge status={p.call_status} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
