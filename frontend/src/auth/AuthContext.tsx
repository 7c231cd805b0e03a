// Who is signed in, with their clinic's workflows and patient schemas (from login and /api/me).
// The token lives in this origin's localStorage, so a reload or a new tab of the same clinic
// stays signed in, and another clinic's address (another origin) never sees it. Signing out in
// one tab signs out every tab.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useEffectEvent,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import type { LoginResponse, Organization, User } from '../api/types';
import { api, ApiError, onUnauthorized, setAuthToken } from '../api/client';

const STORAGE_KEY = 'sova.auth';
export const ACTIVITY_KEY = 'sova.activity';

interface Stored {
  token: string;
  expires_at: string;
  idle_timeout_seconds: number;
}

export type AuthStatus = 'checking' | 'anonymous' | 'signed_in' | 'unreachable';

export interface AuthState {
  status: AuthStatus;
  user: User | null;
  org: Organization | null;
  idleTimeoutSeconds: number;
  /** Why the last session ended, for the login page ("signed out after 15 minutes …"). */
  signedOutReason: string | null;
  login: (email: string, password: string) => Promise<void>;
  logout: (reason?: string) => Promise<void>;
  /** Re-reads the clinic (its schemas may have changed in the database). */
  refresh: () => Promise<void>;
  retry: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function useAuth(): AuthState {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}

function readStored(): Stored | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Stored;
    return typeof s.token === 'string' ? s : null;
  } catch {
    return null;
  }
}

function writeStored(s: Stored | null): void {
  try {
    if (s) localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
    else localStorage.removeItem(STORAGE_KEY);
  } catch {
    // private mode without storage: the session lasts as long as the tab
  }
}

export const DEFAULT_IDLE_SECONDS = 900;

export function AuthProvider({ children }: { children: ReactNode }) {
  const [stored, setStored] = useState<Stored | null>(() => readStored());
  const [status, setStatus] = useState<AuthStatus>(() => (stored ? 'checking' : 'anonymous'));
  const [user, setUser] = useState<User | null>(null);
  const [org, setOrg] = useState<Organization | null>(null);
  const [signedOutReason, setSignedOutReason] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  // for the listeners and callbacks below, which outlive a render
  const storedRef = useRef(stored);
  useEffect(() => {
    storedRef.current = stored;
  }, [stored]);

  const clear = useCallback((reason: string | null) => {
    setAuthToken(null);
    writeStored(null);
    setStored(null);
    setUser(null);
    setOrg(null);
    setStatus('anonymous');
    setSignedOutReason(reason);
  }, []);

  // A 401 from any authenticated call: the session ended (idle, logout elsewhere, expiry).
  useEffect(() => {
    onUnauthorized((err: ApiError) => {
      if (storedRef.current) clear(err.message || 'Your session has ended. Sign in again.');
    });
    return () => onUnauthorized(null);
  }, [clear]);

  // On start (and when another tab signs in, or on retry): check the stored token and load the
  // clinic. Whoever leads here has set the status to 'checking' already.
  const checkSession = useEffectEvent((token: string, signal: AbortSignal) => {
    setAuthToken(token);
    if (status === 'signed_in') return;
    api.me(signal).then(
      (me) => {
        setUser(me.user);
        setOrg(me.organization);
        setStatus('signed_in');
      },
      (e: unknown) => {
        if (signal.aborted) return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) clear(null);
        else setStatus('unreachable');
      },
    );
  });
  const token = stored?.token;
  useEffect(() => {
    if (!token) return;
    const ctl = new AbortController();
    checkSession(token, ctl.signal);
    return () => ctl.abort();
  }, [token, attempt]);

  // Other tabs of this clinic: a sign-out there signs out here; a sign-in there signs in here.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key !== STORAGE_KEY) return;
      const next = readStored();
      if (!next) {
        if (storedRef.current) clear('You signed out in another tab.');
      } else if (next.token !== storedRef.current?.token) {
        setUser(null);
        setOrg(null);
        setStatus('checking');
        setStored(next);
      }
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, [clear]);

  // The token's hard expiry.
  useEffect(() => {
    if (!stored) return;
    const at = Date.parse(stored.expires_at);
    if (!Number.isFinite(at)) return;
    // already past: at once, on the timer's next turn
    const ms = Math.max(0, at - Date.now());
    const t = window.setTimeout(() => clear('Your session has expired. Sign in again.'), Math.min(ms, 2 ** 31 - 1));
    return () => window.clearTimeout(t);
  }, [stored, clear]);

  const login = useCallback(async (email: string, password: string) => {
    const res: LoginResponse = await api.login(email, password);
    const s: Stored = {
      token: res.token,
      expires_at: res.expires_at,
      idle_timeout_seconds: res.idle_timeout_seconds || DEFAULT_IDLE_SECONDS,
    };
    setAuthToken(s.token);
    try {
      localStorage.setItem(ACTIVITY_KEY, String(Date.now()));
    } catch {
      // ignore
    }
    writeStored(s);
    setStored(s);
    setUser(res.user);
    setOrg(res.organization);
    setSignedOutReason(null);
    setStatus('signed_in');
  }, []);

  const logout = useCallback(
    async (reason?: string) => {
      if (storedRef.current) {
        try {
          await api.logout();
        } catch {
          // the server forgets the session anyway after its idle time
        }
      }
      clear(reason ?? null);
    },
    [clear],
  );

  const refresh = useCallback(async () => {
    if (!storedRef.current) return;
    try {
      const me = await api.me();
      setUser(me.user);
      setOrg(me.organization);
    } catch {
      // a 401 signs out through the handler; anything else keeps what we have
    }
  }, []);

  const value = useMemo<AuthState>(
    () => ({
      status,
      user,
      org,
      idleTimeoutSeconds: stored?.idle_timeout_seconds || DEFAULT_IDLE_SECONDS,
      signedOutReason,
      login,
      logout,
      refresh,
      retry: () => {
        setStatus('checking');
        setAttempt((a) => a + 1);
      },
    }),
    [status, user, org, stored, signedOutReason, login, logout, refresh],
  );

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
