/**
 * The researcher's egress requests: the whole list (every page of the API's cursor), kept
 * current by live events and by the views that change a request.
 */
import * as React from 'react';

import { api } from '../api';
import type { RequestOut } from '../contract.gen';
import { applyEvent, type Applied, type ServerEvent } from '../logic/events';
import { followCursor } from '../logic/pages';
import type { Notify } from './useNotices';

export interface Requests {
  requests: RequestOut[];
  /** Read the whole list again. */
  reload: () => void;
  /** Put a request that a view changed or created into the list. */
  upsert: (r: RequestOut) => void;
  /** Apply a live event; what it says must be refreshed beyond the list is returned. */
  apply: (ev: ServerEvent) => Applied;
}

export function useRequests(enabled: boolean, notify: Notify): Requests {
  const [requests, setRequests] = React.useState<RequestOut[]>([]);
  // The event handler outlives renders; it reads the current list through this ref.
  const requestsRef = React.useRef<RequestOut[]>(requests);
  requestsRef.current = requests;
  // Only the latest reload may set the list: an older, slower one would put stale pages back.
  const generation = React.useRef(0);

  const reload = React.useCallback(() => {
    generation.current += 1;
    const mine = generation.current;
    followCursor(cursor => api.requests({ direction: 'egress' }, cursor)).then(items => {
      if (mine === generation.current) {
        setRequests(items);
      }
    }, notify);
  }, [notify]);

  React.useEffect(() => {
    if (enabled) {
      reload();
    }
  }, [enabled, reload]);

  const upsert = React.useCallback(
    (r: RequestOut) =>
      setRequests(cur => (cur.some(x => x.id === r.id) ? cur.map(x => (x.id === r.id ? r : x)) : [r, ...cur])),
    []
  );

  const apply = React.useCallback(
    (ev: ServerEvent) => {
      const applied = applyEvent({ requests: requestsRef.current }, ev);
      requestsRef.current = applied.state.requests;
      setRequests(applied.state.requests);
      for (const rid of applied.refresh) {
        api.request(rid).then(full => setRequests(cur => cur.map(r => (r.id === full.id ? full : r))), notify);
      }
      return applied;
    },
    [notify]
  );

  return { requests, reload, upsert, apply };
}
