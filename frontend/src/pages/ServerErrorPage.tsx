import { sentence } from '../components/ErrorAlert';

/** The API could not be reached at start-up. */
export function ServerErrorPage({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <main className="center-page" id="main">
      <div className="card narrow">
        <h1>Cannot reach Sova</h1>
        <p>{sentence(message)}</p>
        <button type="button" className="btn btn-primary" onClick={onRetry}>
          Try again
        </button>
      </div>
    </main>
  );
}
