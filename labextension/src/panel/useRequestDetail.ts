/**
 * One request as the request view shows it: the request itself (reloaded whenever a live event
 * says it changed), the checkers' feedback and automatic report once it was submitted, and the
 * release once released.
 */
import * as React from 'react';

import { api } from '../api';
import type { AgentReportOut, ReleaseOut, RequestOut, ReviewOut } from '../contract.gen';
import { describeError } from '../problem';
import type { Notify } from './useNotices';

export interface Feedback {
  reviews: ReviewOut[] | null;
  report: AgentReportOut | null;
  /** Why some feedback is missing (its call failed). */
  note: string[];
}

export interface RequestDetail {
  req: RequestOut | null;
  /** Show a request the view got back from an action. */
  setReq: (r: RequestOut) => void;
  feedback: Feedback;
  release: ReleaseOut | null;
  reload: () => void;
}

export function useRequestDetail(
  rid: string,
  reloadSignal: number,
  notify: Notify,
  onChanged: (r: RequestOut) => void
): RequestDetail {
  const [req, setReq] = React.useState<RequestOut | null>(null);
  const [feedback, setFeedback] = React.useState<Feedback>({ reviews: null, report: null, note: [] });
  const [release, setRelease] = React.useState<ReleaseOut | null>(null);

  const load = React.useCallback(() => {
    api.request(rid).then(r => {
      setReq(r);
      onChanged(r);
    }, notify);
  }, [rid, notify, onChanged]);

  React.useEffect(load, [load, reloadSignal]);

  // Feedback follows the request's state and revision, not every reload of the same request.
  const status = req?.status;
  const revision = req?.revision;
  React.useEffect(() => {
    if (!status || status === 'DRAFT') {
      return;
    }
    // Feedback and the agent report exist only once a request was submitted; failures are
    // shown where the feedback would be.
    const note: string[] = [];
    Promise.all([
      api.reviews(rid).catch(e => {
        note.push(`Checker feedback unavailable: ${describeError(e)}`);
        return null;
      }),
      api.report(rid).catch(e => {
        note.push(`Automatic report unavailable: ${describeError(e)}`);
        return null;
      })
    ]).then(([reviews, report]) => setFeedback({ reviews, report, note }));
    if (status === 'RELEASED') {
      api.release(rid).then(setRelease, notify);
    }
  }, [rid, status, revision, notify]);

  return { req, setReq, feedback, release, reload: load };
}
