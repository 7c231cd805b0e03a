// Unmounts what each test rendered (vitest runs without globals, so testing-library cannot hook
// in itself), and forgets stubs and storage between tests.
import { afterEach, vi } from 'vitest';
import { cleanup, configure } from '@testing-library/react';

// CI machines have two cores and run several test files at once: give findBy* room.
configure({ asyncUtilTimeout: 4000 });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.useRealTimers();
  localStorage.clear();
  sessionStorage.clear();
});
