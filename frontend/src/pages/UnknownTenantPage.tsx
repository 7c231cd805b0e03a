/** The address belongs to no clinic (GET /api/tenant answered 404). */
export function UnknownTenantPage({ host }: { host: string }) {
  return (
    <main className="center-page" id="main">
      <div className="card narrow">
        <h1>No clinic here</h1>
        <p>
          No clinic is served at <strong>{host}</strong>. Check the address your clinic gave you; it usually looks
          like <code>yourclinic.datasova.com</code>.
        </p>
      </div>
    </main>
  );
}
