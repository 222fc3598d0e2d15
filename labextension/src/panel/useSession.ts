/**
 * What the panel learns from the server once: whether this frontend and the server extension
 * agree on a version, whether a backend is configured (and for which project), who the user is,
 * and the statbarns (output types) they describe outputs with.
 */
import * as React from 'react';

import { api } from '../api';
import type { Statbarn } from '../logic/types';
import { checkCompatibility, type Compatibility } from '../logic/version';
import { describeError } from '../problem';
import type { Notify } from './useNotices';

export interface Session {
  /** null until the server extension answered. */
  compat: Compatibility | null;
  /** A compatible server extension with a trevor backend behind it. */
  backend: boolean;
  /** The project new requests go to (TREVOR_PROJECT), '' when the researcher chooses. */
  project: string;
}

export function useSession(): Session {
  const [session, setSession] = React.useState<Session>({ compat: null, backend: false, project: '' });
  React.useEffect(() => {
    api.version().then(
      info => {
        const compat = checkCompatibility(info);
        setSession({ compat, backend: compat.ok && info.backend_configured, project: info.project ?? '' });
      },
      err => {
        const message = checkCompatibility(null).message + ` (${describeError(err)})`;
        setSession({ compat: { ok: false, message }, backend: false, project: '' });
      }
    );
  }, []);
  return session;
}

/** Who I am and where new requests go, for the header. */
export function useIdentity(backend: boolean, project: string, notify: Notify): string {
  const [identity, setIdentity] = React.useState('');
  React.useEffect(() => {
    if (!backend) {
      return;
    }
    api.me().then(me => setIdentity(project ? `${me.username} · project ${project}` : me.username), notify);
  }, [backend, project, notify]);
  return identity;
}

export function useStatbarns(backend: boolean, notify: Notify): Statbarn[] | null {
  const [statbarns, setStatbarns] = React.useState<Statbarn[] | null>(null);
  React.useEffect(() => {
    if (backend) {
      api.statbarns().then(setStatbarns, notify);
    }
  }, [backend, notify]);
  return statbarns;
}
