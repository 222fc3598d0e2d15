/**
 * jupyter-trevor: the airlock inside JupyterLab. Adds the left-sidebar "Airlock" panel and the
 * notebook output action "Add output to airlock".
 */
import { ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IStateDB } from '@jupyterlab/statedb';
import { LabIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';

import { registerCellAction } from './notebook/cellAction';
import { AirlockWidget } from './panel/AirlockPanel';
import { activateReview } from './review/plugin';

const airlockSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M12 2 4 5v6c0 5 3.4 9.7 8 11 4.6-1.3 8-6 8-11V5l-8-3zm0 2.2 6 2.2V11c0 ' +
  '3.9-2.5 7.6-6 8.8-3.5-1.2-6-4.9-6-8.8V6.4l6-2.2zM9 10v5h6v-5h-1V9a2 2 0 0 0-4 0v1H9zm2-1a1 1 0 0 1 2 0v1h-2V9z"/>' +
  '</svg>';

export const airlockIcon = new LabIcon({ name: 'jupyter-trevor:airlock', svgstr: airlockSvg });

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-trevor:plugin',
  description: 'trevor airlock: tag outputs, make and follow airlock requests, receive ingress files',
  autoStart: true,
  // No ILabShell requirement: any JupyterLab-based shell with a left area (Notebook 7 too).
  optional: [INotebookTracker, ILayoutRestorer, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    state: IStateDB | null
  ) => {
    const outputsChanged = new Signal<unknown, void>(app);
    const widget = new AirlockWidget({ app, outputsChanged });
    widget.title.icon = airlockIcon;
    app.shell.add(widget, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(widget, widget.id);
    }
    if (tracker) {
      registerCellAction(app, tracker, outputsChanged);
    }
    // Output checkers: the Review section, the queue badge on the tab, the review view.
    widget.review = activateReview(app, widget, state);
    widget.update(); // in case the panel rendered before it knew about the review
  }
};

export default plugin;
