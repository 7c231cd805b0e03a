// Loads something from the API for a component: {data, error, loading, reload}. The request is
// aborted when the inputs change or the component goes away, so a late answer never lands on
// the wrong page.
import { useCallback, useEffect, useEffectEvent, useState } from 'react';
import { ApiError } from './client';

export interface ApiState<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
  /** Replace the data in place (after a save, say). */
  setData: (d: T) => void;
}

function sameInputs(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): ApiState<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  // the inputs of the request in flight: new inputs show loading from this very render on
  const inputs = [...deps, tick];
  const [started, setStarted] = useState(inputs);
  if (!sameInputs(started, inputs)) {
    setStarted(inputs);
    setLoading(true);
    setError(null);
  }
  const run = useEffectEvent((signal: AbortSignal) => load(signal));

  useEffect(() => {
    const ctl = new AbortController();
    run(ctl.signal).then(
      (d) => {
        if (ctl.signal.aborted) return;
        setData(d);
        setLoading(false);
      },
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        setError(e instanceof ApiError ? e : new ApiError(0, 'client', 'Something went wrong.'));
        setLoading(false);
      },
    );
    return () => ctl.abort();
  }, [started]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, setData };
}
