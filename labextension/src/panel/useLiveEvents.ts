/** The live event stream while a backend is configured; returns its state for the header dot. */
import * as React from 'react';

import type { ServerEvent } from '../logic/events';
import { LiveEvents } from './live';

export function useLiveEvents(enabled: boolean, onEvent: (ev: ServerEvent) => void, onConnected: () => void): string {
  const [live, setLive] = React.useState('offline');
  // One stream for the panel's life: the handlers change with renders, the stream does not.
  const handlers = React.useRef({ onEvent, onConnected });
  handlers.current = { onEvent, onConnected };
  React.useEffect(() => {
    if (!enabled) {
      return;
    }
    const events = new LiveEvents({
      onEvent: ev => handlers.current.onEvent(ev),
      onState: (state, detail) => {
        setLive(detail ? `${state}: ${detail}` : state);
        if (state === 'live') {
          // The stream starts "now": reload once connected so nothing that happened between
          // the first load (or a disconnect) and this moment is missed.
          handlers.current.onConnected();
        }
      }
    });
    events.start();
    return () => events.stop();
  }, [enabled]);
  return live;
}
