import { Link } from 'react-router-dom';
import { usePageTitle } from '../components/usePageTitle';

/** Anything that does not exist, or that belongs to another clinic: the two look the same. */
export function NotFoundPage({ what }: { what?: string }) {
  usePageTitle('Not found');
  return (
    <section className="page not-found" aria-labelledby="nf-title">
      <h1 id="nf-title">Not found</h1>
      <p>{what ? `This ${what} was not found.` : 'This page was not found.'} It may have been removed, or the link may be wrong.</p>
      <p>
        <Link to="/">Back to the start page</Link>
      </p>
    </section>
  );
}
