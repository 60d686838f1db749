// Who the messages are about: the anonymous id, the user and the tenant, kept in localStorage so a
// reload keeps them (read once at start, written only when they change).

const ls = {
  get(k: string): string | null {
    try {
      return localStorage.getItem(k);
    } catch {
      return null;
    }
  },
  set(k: string, v: string | null) {
    try {
      if (v === null) localStorage.removeItem(k);
      else localStorage.setItem(k, v);
    } catch {
      /* storage unavailable: identity lives for this page only */
    }
  },
};

export interface Identity {
  anonymousId: string;
  userId: string | undefined;
  groupId: string | undefined;
  setUser(id: string): void;
  setGroup(id: string): void;
  /** Forgets the user and tenant and starts a new anonymous id. */
  reset(): void;
}

export function createIdentity(): Identity {
  const me: Identity = {
    anonymousId: ls.get('keel.anonymousId') ?? '',
    userId: ls.get('keel.userId') ?? undefined,
    groupId: ls.get('keel.groupId') ?? undefined,
    setUser(id) {
      ls.set('keel.userId', (me.userId = id));
    },
    setGroup(id) {
      ls.set('keel.groupId', (me.groupId = id));
    },
    reset() {
      me.userId = me.groupId = undefined;
      ls.set('keel.userId', null);
      ls.set('keel.groupId', null);
      ls.set('keel.anonymousId', (me.anonymousId = crypto.randomUUID()));
    },
  };
  if (!me.anonymousId) ls.set('keel.anonymousId', (me.anonymousId = crypto.randomUUID()));
  return me;
}
