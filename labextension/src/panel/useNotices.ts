/** The panel's notices: every failed call and every outcome worth saying, dismissable. */
import * as React from 'react';

import { describeError } from '../problem';

export type Tone = 'error' | 'info';
export type Notice = { id: number; text: string; tone: Tone };
/** Show a message, or an error described for people (problem+json detail when there is one). */
export type Notify = (e: unknown, tone?: Tone) => void;

export function useNotices(): [Notice[], Notify, (id: number) => void] {
  const [notices, setNotices] = React.useState<Notice[]>([]);
  const counter = React.useRef(0);
  const push = React.useCallback((e: unknown, tone: Tone = 'error') => {
    const text = typeof e === 'string' ? e : describeError(e);
    counter.current += 1;
    const id = counter.current;
    setNotices(n => [...n.slice(-4), { id, text, tone }]);
  }, []);
  const dismiss = React.useCallback((id: number) => setNotices(n => n.filter(x => x.id !== id)), []);
  return [notices, push, dismiss];
}
