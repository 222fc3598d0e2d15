/**
 * The workspace's tagged outputs: loaded once, reloaded when the notebook action tags one, and
 * followed by the long poll (the kernel writes them directly).
 */
import type { ISignal } from '@lumino/signaling';
import * as React from 'react';

import { api } from '../api';
import type { TaggedOutput } from '../logic/types';
import { useWatchedOutputs } from './outputsWatch';
import type { Notify } from './useNotices';

export function useOutputs(
  enabled: boolean,
  outputsChanged: ISignal<unknown, void>,
  notify: Notify
): { outputs: TaggedOutput[]; reload: () => void } {
  const [outputs, setOutputs] = React.useState<TaggedOutput[]>([]);
  const reload = React.useCallback(() => {
    api.outputs().then(setOutputs, notify);
  }, [notify]);

  React.useEffect(() => {
    if (enabled) {
      reload();
    }
  }, [enabled, reload]);

  React.useEffect(() => {
    const handler = () => reload();
    outputsChanged.connect(handler);
    return () => {
      outputsChanged.disconnect(handler);
    };
  }, [outputsChanged, reload]);

  useWatchedOutputs(enabled, setOutputs);
  return { outputs, reload };
}
