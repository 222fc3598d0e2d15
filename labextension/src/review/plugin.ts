/**
 * Wires the checker's review into JupyterLab: the queue model behind the Airlock tab's badge,
 * and the command that opens a request's review view in the main area (one per request).
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import type { IStateDB } from '@jupyterlab/statedb';
import { ReactWidget } from '@jupyterlab/ui-components';
import type { Widget } from '@lumino/widgets';
import * as React from 'react';

import { ReviewModel } from './model';
import { ReviewView } from './ReviewView';

export const OPEN_REVIEW = 'jupyter-trevor:open-review';

export interface Review {
  model: ReviewModel;
  open: (rid: string) => void;
}

export function activateReview(app: JupyterFrontEnd, panel: Widget, state: IStateDB | null): Review {
  const model = new ReviewModel(panel.title);
  const open = (rid: string) => {
    const id = `trevor-review-${rid}`;
    for (const w of app.shell.widgets('main')) {
      if (w.id === id) {
        app.shell.activateById(id);
        return;
      }
    }
    const content = ReactWidget.create(React.createElement(ReviewView, { rid, model, state }));
    content.addClass('trevor-review-content');
    const widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.title.label = 'Review';
    widget.title.caption = `Review of request ${rid}`;
    widget.title.closable = true;
    const queued = model.state.items?.find(i => i.request.id === rid);
    if (queued) {
      widget.title.label = `Review: ${queued.request.title}`;
    }
    app.shell.add(widget, 'main');
    app.shell.activateById(id);
  };
  app.commands.addCommand(OPEN_REVIEW, {
    label: 'Open airlock review',
    describedBy: {
      args: {
        type: 'object',
        properties: { rid: { type: 'string', description: 'The id of the request to review' } },
        required: ['rid']
      }
    },
    execute: args => open(String(args.rid))
  });
  void model.start();
  return { model, open };
}
