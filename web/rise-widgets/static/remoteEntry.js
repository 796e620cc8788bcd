// nbkit-rise-widgets: a prebuilt JupyterLab extension of no plugins whose container offers
// stand-ins for three JupyterLab packages when the page has none (web/README.md, "Live slides
// and ipywidgets 8").
//
// jupyterlab-rise 0.43 presents a notebook in a separate, smaller JupyterLab application that
// does not share @jupyterlab/console, @jupyterlab/logconsole or @jupyterlab/mainmenu; the
// ipywidgets 8 manager (@jupyter-widgets/jupyterlab-manager) consumes them as singletons, fails
// to load, and every widget output falls back to its saved picture (jupyterlab-contrib/rise#119).
// The manager only takes one token from each, as an optional plugin dependency, so a package
// that exports never-provided tokens of those names lets it load; the slideshow then renders
// live widgets. In full JupyterLab the real packages are in the share scope before any extension
// container is initialised, so nothing is added there.
(function () {
  var STAND_INS = {
    '@jupyterlab/console': ['IConsoleTracker'],
    '@jupyterlab/logconsole': ['ILoggerRegistry'],
    '@jupyterlab/mainmenu': ['IMainMenu']
  };
  var VERSION = '4.999.0'; // satisfies the manager's "^4.x" ranges; never above a real copy

  function standIn(shareScope, pkg, names) {
    return function () {
      var coreutils = shareScope['@lumino/coreutils'];
      var versions = coreutils ? Object.keys(coreutils) : [];
      var load = versions.length
        ? Promise.resolve(coreutils[versions[0]].get()).then(function (factory) {
            return factory().Token;
          })
        : Promise.resolve(null);
      return load.then(function (Token) {
        var module = { __esModule: true };
        names.forEach(function (name) {
          var id = pkg + ':' + name + ' (nbkit-rise-widgets stand-in)';
          module[name] = Token ? new Token(id) : { name: id };
        });
        return function () {
          return module;
        };
      });
    };
  }

  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB['nbkit-rise-widgets'] = {
    init: function (shareScope) {
      Object.keys(STAND_INS).forEach(function (pkg) {
        if (shareScope[pkg] && Object.keys(shareScope[pkg]).length) {
          return; // the application has the real package
        }
        shareScope[pkg] = {};
        shareScope[pkg][VERSION] = {
          get: standIn(shareScope, pkg, STAND_INS[pkg]),
          from: 'nbkit-rise-widgets',
          eager: false,
          loaded: 1
        };
      });
    },
    get: function (module) {
      if (module !== './extension') {
        return Promise.reject(new Error('nbkit-rise-widgets has no module ' + module));
      }
      return Promise.resolve(function () {
        return { __esModule: true, default: [] };
      });
    }
  };
})();
