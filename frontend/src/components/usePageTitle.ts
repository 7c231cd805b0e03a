import { useEffect } from 'react';
import { useTenant } from '../tenant/TenantContext';

/** "Patients · Demo Clinic" in the tab's title. */
export function usePageTitle(title: string | null | undefined): void {
  const tenant = useTenant();
  const name = tenant.branding?.company_name || tenant.name;
  useEffect(() => {
    document.title = title ? `${title} · ${name}` : name;
  }, [title, name]);
}
