// zorgcard browser kit: answers Firefox's PIN prompt for a PKCS#11 token (the simulated UZI-pas) in a WebDriver
// session, and logs the token in before the first TLS client authentication.
//
// Run it in Firefox's privileged (chrome) context, as an asynchronous script with the PIN as its one argument:
// geckodriver started with `--allow-system-access`, then `POST /session/{id}/moz/context {"context":"chrome"}` and
// `POST /session/{id}/execute/async {"script": <this file>, "args": ["<PIN>"]}`. It resolves with the names of the
// tokens it logged in, or with {"error": "..."}.
//
// How (Firefox's own PKCS#11 tests do the same, security/manager/ssl/tests/): an nsIPromptFactory registered for
// @mozilla.org/prompter;1 hands out a prompt whose promptPassword sets the PIN; nsIPK11Token.login(false) then asks
// that prompt. The PIN stays in this session's memory only.
const [pin, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const prompt = {
    QueryInterface: ChromeUtils.generateQI(["nsIPrompt"]),
    promptPassword(_title, _text, password) {
      password.value = pin;
      return true;
    },
    alert() {},
    confirm() {
      return true;
    },
  };
  const factory = {
    QueryInterface: ChromeUtils.generateQI(["nsIPromptFactory"]),
    getPrompt(_window, iid) {
      return prompt.QueryInterface(iid);
    },
  };
  const registrar = Components.manager.QueryInterface(Ci.nsIComponentRegistrar);
  const cid = Components.ID("{6a0f1c2e-5b7d-4e38-9f41-2d8c7b3a9e15}");
  if (!registrar.isCIDRegistered(cid)) {
    registrar.registerFactory(cid, "zorgcard PIN prompt", "@mozilla.org/prompter;1", {
      createInstance(iid) {
        return factory.QueryInterface(iid);
      },
    });
  }
  const modules = Cc["@mozilla.org/security/pkcs11moduledb;1"].getService(Ci.nsIPKCS11ModuleDB);
  const loggedIn = [];
  for (const module of await modules.listModules()) {
    for (const slot of module.slots) {
      let token = null;
      try {
        token = slot.getToken();
      } catch (_) {
        continue;
      }
      if (token && token.needsLogin() && !token.isLoggedIn()) {
        token.login(false);
        loggedIn.push(token.tokenName);
      }
    }
  }
  return loggedIn;
})().then(done, (e) => done({ error: String(e) }));
