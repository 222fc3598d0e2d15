/**
 * The left-sidebar "Airlock" panel for researchers: tagged outputs with their pre-check
 * verdicts, requests with live status, the request view (objects, metadata, feedback, history,
 * actions) and the inbox of delivered ingress files.
 *
 * This file composes the sections (one file each) from the hooks that load and follow the data
 * (use*.ts). Which actions a state allows, badges, and how events change the list live in
 * ../logic (tested with jest). Every failed call is shown in the panel (useNotices), never
 * dropped.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { ReactWidget } from '@jupyterlab/ui-components';
import type { ISignal } from '@lumino/signaling';
import * as React from 'react';

import type { ServerEvent } from '../logic/events';
import type { Review } from '../review/plugin';
import { ReviewSection } from '../review/ReviewSection';
import { InboxSection } from './InboxSection';
import { OutputsSection } from './OutputsSection';
import { RequestsSection } from './RequestsSection';
import { RequestView } from './RequestView';
import { useInbox } from './useInbox';
import { useLiveEvents } from './useLiveEvents';
import { useNotices } from './useNotices';
import { useOutputs } from './useOutputs';
import { useRequests } from './useRequests';
import { useIdentity, useSession, useStatbarns } from './useSession';

export interface PanelProps {
  app: JupyterFrontEnd;
  /** Emitted when the notebook action tagged an output (the list must reload). */
  outputsChanged: ISignal<unknown, void>;
  /** The checker's review (issue 9): its section shows to output checkers only. */
  review?: Review;
}

export function AirlockPanel({ app, outputsChanged, review }: PanelProps): JSX.Element {
  const [notices, notify, dismiss] = useNotices();
  const { compat, backend, project } = useSession();
  const ready = compat?.ok === true;
  const outputs = useOutputs(ready, outputsChanged, notify);
  const inbox = useInbox(ready, notify);
  const requests = useRequests(backend, notify);
  const statbarns = useStatbarns(backend, notify);
  const identity = useIdentity(backend, project, notify);
  const [openRid, setOpenRid] = React.useState<string | null>(null);
  const [reloadKey, setReloadKey] = React.useState(0);
  const openRef = React.useRef<string | null>(openRid);
  openRef.current = openRid;

  const onEvent = (ev: ServerEvent) => {
    const applied = requests.apply(ev);
    // Reload the open request's data in place: remounting its view would throw away
    // what the researcher is typing, an open preview and a chosen replacement.
    if (openRef.current !== null && applied.refresh.includes(openRef.current)) {
      setReloadKey(k => k + 1);
    }
    if (applied.refreshInbox) {
      inbox.deliver();
    }
  };
  const live = useLiveEvents(backend, onEvent, requests.reload);

  return (
    <div className="trevor-panel">
      <header className="trevor-header">
        <h2>Airlock</h2>
        {identity && (
          <span className="trevor-whoami" title="Signed in to the airlock as">
            {identity}
          </span>
        )}
        {backend && (
          <span className={`trevor-live trevor-live-${live.split(':')[0]}`} title={live}>
            ●
          </span>
        )}
      </header>
      {compat?.message && (
        <div className={`trevor-notice ${compat.ok ? 'trevor-notice-info' : 'trevor-notice-error'}`} role="alert">
          {compat.message}
        </div>
      )}
      {notices.map(n => (
        <div key={n.id} className={`trevor-notice trevor-notice-${n.tone}`} role="alert">
          <span>{n.text}</span>
          <button className="trevor-link" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
      {ready && openRid === null && (
        <>
          {review && <ReviewSection model={review.model} onOpen={review.open} />}
          <OutputsSection
            outputs={outputs.outputs}
            requests={requests.requests}
            backend={backend}
            project={project}
            notify={notify}
            onReload={outputs.reload}
            onRequestChanged={requests.upsert}
            onOpen={setOpenRid}
          />
          {backend && <RequestsSection requests={requests.requests} onOpen={setOpenRid} onReload={requests.reload} />}
          <InboxSection
            app={app}
            files={inbox.files}
            backend={backend}
            notify={notify}
            onFiles={inbox.setFiles}
            onReload={inbox.reload}
          />
        </>
      )}
      {ready && openRid !== null && (
        <RequestView
          key={openRid}
          rid={openRid}
          reloadSignal={reloadKey}
          outputs={outputs.outputs}
          statbarns={statbarns}
          notify={notify}
          onBack={() => setOpenRid(null)}
          onChanged={requests.upsert}
        />
      )}
    </div>
  );
}

export class AirlockWidget extends ReactWidget {
  review: Review | undefined;

  constructor(private readonly props: PanelProps) {
    super();
    this.addClass('trevor-airlock');
    this.id = 'trevor-airlock';
    this.title.caption = 'Airlock';
  }

  render(): JSX.Element {
    return <AirlockPanel {...this.props} review={this.review} />;
  }
}
