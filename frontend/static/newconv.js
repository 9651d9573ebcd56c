// The new-conversation form.

import { h } from './vdom.js';
import { APIError, createBody, defaultsFrom, modelChoices, providersOf } from './api.js';
import { $, app, failure, mount, setConn } from './ui.js';
import { refreshList } from './list.js';

export async function showNewForm() {
  setConn('idle');
  document.title = 'New conversation · GoHands';
  const datalist = (id, values) => h('datalist', { id }, values.map((v) => h('option', { value: v })));
  const form = h('form', { id: 'new-form', class: 'new-form', autocomplete: 'off' },
    h('h1', null, 'New conversation'),
    h('label', { for: 'f-task' }, 'Task'),
    h('textarea', { id: 'f-task', name: 'task', rows: '5', placeholder: 'What should the agent do? (Ctrl+Enter starts it)' }),
    h('label', { for: 'f-title' }, 'Title ', h('small', { class: 'muted' }, '(optional)')),
    h('input', { id: 'f-title', name: 'title', type: 'text' }),
    h('fieldset', null,
      h('legend', null, 'Model'),
      h('div', { id: 'f-provider-row', hidden: true },
        h('label', { for: 'f-provider' }, 'Provider'),
        h('select', { id: 'f-provider', name: 'provider' }, h('option', { value: '' }, 'any provider'))),
      h('label', { for: 'f-model' }, 'Model'),
      h('input', { id: 'f-model', name: 'model', type: 'text', list: 'models', placeholder: 'the server’s default model' }),
      h('label', { for: 'f-base' }, 'Base URL'),
      h('input', { id: 'f-base', name: 'base_url', type: 'text', list: 'base-urls', placeholder: 'the provider’s (or the server’s default)' }),
      h('label', { for: 'f-llm-key' }, 'API key'),
      h('input', { id: 'f-llm-key', name: 'api_key', type: 'password', autocomplete: 'new-password', placeholder: 'the server’s key, if it has one' })),
    h('fieldset', null,
      h('legend', null, 'Workspace'),
      h('label', { for: 'f-dir' }, 'Working directory in the sandbox'),
      h('input', { id: 'f-dir', name: 'working_dir', type: 'text', list: 'dirs', value: '/workspace' }),
      h('p', { class: 'hint' }, 'The server mounts its configured folders (SANDBOX_VOLUMES) into every sandbox; /workspace is the workspace mount.')),
    h('fieldset', null,
      h('legend', null, 'Confirmation'),
      h('label', { for: 'f-policy' }, 'Ask me before'),
      h('select', { id: 'f-policy', name: 'policy' },
        h('option', { value: 'NeverConfirm' }, 'nothing: run every action'),
        h('option', { value: 'ConfirmRisky' }, 'risky actions'),
        h('option', { value: 'AlwaysConfirm' }, 'every action')),
      h('label', { for: 'f-analyzer' }, 'Rate the risk of actions with'),
      h('select', { id: 'f-analyzer', name: 'analyzer' },
        h('option', { value: '' }, 'nothing'),
        h('option', { value: 'LLMSecurityAnalyzer' }, 'the model’s own rating'),
        h('option', { value: 'RuleAnalyzer' }, 'GoHands’ built-in rules')),
      h('div', { id: 'f-threshold-row', hidden: true },
        h('label', { for: 'f-threshold' }, 'Risky means at least'),
        h('select', { id: 'f-threshold', name: 'threshold' },
          h('option', { value: 'LOW' }, 'low'), h('option', { value: 'MEDIUM' }, 'medium'), h('option', { value: 'HIGH', selected: true }, 'high')))),
    h('fieldset', { id: 'f-tools' }, h('legend', null, 'Tools'), h('p', { class: 'hint' }, 'All of the server’s tools.')),
    h('p', { id: 'f-error', class: 'form-error', role: 'alert' }),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn btn-primary', id: 'f-submit' }, 'Start'), ' ', h('a', { class: 'btn', href: '#/' }, 'Cancel')),
    datalist('models', []), datalist('base-urls', []), datalist('dirs', ['/workspace']));
  mount($('#main'), form);
  const el = $('#new-form');
  $('#f-policy').addEventListener('change', () => {
    $('#f-threshold-row').hidden = $('#f-policy').value !== 'ConfirmRisky';
  });
  $('#f-task').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      el.requestSubmit();
    }
  });
  el.addEventListener('submit', (e) => {
    e.preventDefault();
    submitNew();
  });
  $('#f-task').focus();

  // The model picker: the catalogue's models, filtered by provider, as
  // suggestions for the model field, which still takes any name.
  const picker = { models: [], inUse: [] };
  const fillModels = () => mount($('#models'), modelChoices({ ...picker, provider: $('#f-provider').value })
    .map((c) => h('option', { value: c.value, label: c.label })));
  $('#f-provider').addEventListener('change', fillModels);
  loadCatalogue(el, picker, fillModels);

  // Suggestions from the server: models, base URLs and folders in use,
  // and the tools it offers.
  try {
    const [page, tools] = await Promise.all([app.api.searchConversations(50), app.api.tools().catch(() => [])]);
    if (!document.body.contains(el)) return;
    const d = defaultsFrom(page && page.items);
    picker.inUse = d.models;
    fillModels();
    mount($('#base-urls'), d.baseURLs.map((v) => h('option', { value: v })));
    mount($('#dirs'), d.workingDirs.map((v) => h('option', { value: v })));
    if (Array.isArray(tools) && tools.length) {
      mount($('#f-tools'), h('legend', null, 'Tools'), h('div', { class: 'tool-grid' }, tools.map((t) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'tool', value: t, checked: true, 'data-tool': t }), ' ', t))));
      for (const box of el.querySelectorAll('input[name=tool]')) box.checked = true;
    }
  } catch (err) {
    failure('Reading the server’s settings', err);
  }
}

/**
 * loadCatalogue reads the server's model catalogue into picker and shows
 * the provider filter. A catalogue that cannot be read leaves the model
 * field as it is: free text with the models in use as suggestions.
 */
async function loadCatalogue(form, picker, fillModels) {
  const [providers, models] = await Promise.all([
    app.api.llmProviders().then((a) => a && a.providers, () => null),
    app.api.llmModels().then((a) => a && a.models, () => null),
  ]);
  if (!document.body.contains(form) || !Array.isArray(models) || !models.length) return;
  picker.models = models;
  mount($('#f-provider'), h('option', { value: '' }, 'any provider'),
    providersOf(providers, models).map((p) => h('option', { value: p }, p)));
  $('#f-provider-row').hidden = false;
  fillModels();
}

async function submitNew() {
  const err = $('#f-error');
  err.textContent = '';
  const boxes = [...document.querySelectorAll('#new-form input[name=tool]')];
  const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
  const fields = {
    task: $('#f-task').value,
    title: $('#f-title').value,
    model: $('#f-model').value,
    baseURL: $('#f-base').value,
    apiKey: $('#f-llm-key').value,
    workingDir: $('#f-dir').value,
    policy: $('#f-policy').value,
    threshold: $('#f-threshold').value,
    analyzer: $('#f-analyzer').value,
    // Every tool ticked: leave the choice to the server's defaults.
    tools: boxes.length && chosen.length < boxes.length ? chosen : [],
  };
  if (boxes.length && chosen.length === 0) {
    err.textContent = 'Give the agent at least one tool.';
    return;
  }
  const button = $('#f-submit');
  button.disabled = true;
  try {
    const info = await app.api.createConversation(createBody(fields));
    refreshList();
    location.hash = '#/c/' + encodeURIComponent(info.id);
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) err.textContent = 'The conversation was not created: ' + e.message;
  } finally {
    button.disabled = false;
  }
}
