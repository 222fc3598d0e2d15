/** The inbox of delivered ingress files. */
import * as React from 'react';

import { api } from '../api';
import type { InboxFile } from '../logic/types';
import type { Notify } from './useNotices';

export interface Inbox {
  files: InboxFile[];
  setFiles: (files: InboxFile[]) => void;
  reload: () => void;
  /** Deliver what arrived (a live event said so) and show the new list, without notices. */
  deliver: () => void;
}

export function useInbox(enabled: boolean, notify: Notify): Inbox {
  const [files, setFiles] = React.useState<InboxFile[]>([]);
  const reload = React.useCallback(() => {
    api.inbox().then(r => setFiles(r.items), notify);
  }, [notify]);
  const deliver = React.useCallback(() => {
    api.deliverInbox().then(r => setFiles(r.items), notify);
  }, [notify]);

  React.useEffect(() => {
    if (enabled) {
      reload();
    }
  }, [enabled, reload]);
  return { files, setFiles, reload, deliver };
}
