/**
 * Keeps the tagged-outputs list current without a Refresh click: a long poll of the server
 * extension's /trevor/outputs/watch, which answers as soon as the kernel (or the cell action)
 * writes to the workspace manifest. Backs off on errors and stops when the panel goes away.
 */
import * as React from 'react';

import { api } from '../api';
import type { TaggedOutput } from '../logic/types';

export function useWatchedOutputs(enabled: boolean, onItems: (items: TaggedOutput[]) => void): void {
  const onItemsRef = React.useRef(onItems);
  onItemsRef.current = onItems;
  React.useEffect(() => {
    if (!enabled) {
      return;
    }
    const controller = new AbortController();
    let since = '';
    let delay = 1000;
    void (async () => {
      while (!controller.signal.aborted) {
        try {
          const r = await api.watchOutputs(since, controller.signal);
          if (controller.signal.aborted) {
            return;
          }
          if (r.fingerprint !== since) {
            onItemsRef.current(r.items);
          }
          since = r.fingerprint;
          delay = 1000;
        } catch {
          if (controller.signal.aborted) {
            return;
          }
          // The list stays as it was; the Refresh button and the next poll still work.
          await new Promise(resolve => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 30_000);
        }
      }
    })();
    return () => controller.abort();
  }, [enabled]);
}
