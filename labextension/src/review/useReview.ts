/**
 * The review view's data: the request under review with its report and reviews (reloaded in
 * place when the event stream says it changed), and the checker's draft of this revision.
 */
import type { IStateDB } from '@jupyterlab/statedb';
import * as React from 'react';

import type { AgentReport, RequestOut, ReviewList } from '../contract.gen';
import { describeError } from '../problem';
import { reviewApi } from './api';
import { draftKey, emptyDraft, restoreDraft, type Draft } from './draft';
import type { ReviewModel } from './model';

export interface Loaded {
  req: RequestOut;
  report: AgentReport | null;
  reviews: ReviewList | null;
}

export function useReviewedRequest(
  rid: string,
  model: ReviewModel
): { data: Loaded | null; loadError: string | null; load: () => Promise<void> } {
  // The queue already holds the request: render from it at once (the objects start loading)
  // while the full request, the report and the reviews are fetched.
  const [data, setData] = React.useState<Loaded | null>(() => {
    const queued = model.state.items?.find(i => i.request.id === rid)?.request;
    return queued ? { req: queued, report: null, reviews: null } : null;
  });
  const [loadError, setLoadError] = React.useState<string | null>(null);

  const load = React.useCallback(async () => {
    try {
      const [req, report, reviews] = await Promise.all([
        reviewApi.request(rid),
        reviewApi.report(rid).catch(() => null),
        reviewApi.reviews(rid).catch(() => null)
      ]);
      setData({ req, report: report?.report ?? null, reviews });
      setLoadError(null);
    } catch (e) {
      setLoadError(describeError(e));
    }
  }, [rid]);

  React.useEffect(() => {
    void load();
    // Reload in place when the event stream says the request changed; the draft is separate
    // state and survives it.
    const onChange = (_: unknown, changed: string) => {
      if (changed === rid) {
        void load();
      }
    };
    model.requestChanged.connect(onChange);
    return () => {
      model.requestChanged.disconnect(onChange);
    };
  }, [load, model, rid]);

  return { data, loadError, load };
}

/**
 * The draft of this revision: read once from the state database (when the request is loaded),
 * then written on every change. null until it is read.
 */
export function useDraft(
  rid: string,
  loaded: boolean,
  revision: number,
  objectIds: string[],
  state: IStateDB | null
): [Draft | null, (next: Draft) => void] {
  const [draft, setDraft] = React.useState<Draft | null>(null);
  React.useEffect(() => {
    if (!loaded) {
      return;
    }
    if (draft && draft.revision === revision) {
      return;
    }
    const fresh = emptyDraft(rid, revision);
    if (!state) {
      setDraft(fresh);
      return;
    }
    state.fetch(draftKey(rid, revision)).then(
      raw => setDraft(restoreDraft(raw, rid, revision, objectIds) ?? fresh),
      () => setDraft(fresh)
    );
  }, [loaded, draft, revision, rid, state, objectIds]);

  const save = React.useCallback(
    (next: Draft) => {
      setDraft(next);
      if (state) {
        void state.save(draftKey(rid, next.revision), next as unknown as never);
      }
    },
    [rid, state]
  );
  return [draft, save];
}
