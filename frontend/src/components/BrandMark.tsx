import type { Branding } from '../api/types';

function initials(name: string): string {
  const words = name.split(/\s+/).filter((w) => /^[\p{L}\p{N}]/u.test(w));
  return (words.length > 1 ? words[0][0] + words[words.length - 1][0] : name.slice(0, 2)).toUpperCase();
}

/** The clinic's logo (or its initials) and name. */
export function BrandMark({ branding, name, compact = false }: { branding?: Branding; name: string; compact?: boolean }) {
  const label = branding?.company_name || name;
  return (
    <span className={`brand-mark${compact ? ' compact' : ''}`}>
      {branding?.logo_url ? (
        <img className="brand-logo" src={branding.logo_url} alt="" />
      ) : (
        <span className="brand-initials" aria-hidden="true">
          {initials(label)}
        </span>
      )}
      <span className="brand-name">{label}</span>
    </span>
  );
}
