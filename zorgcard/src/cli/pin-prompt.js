// zorgcard browser kit: answers Firefox's PIN prompt for a PKCS#11 token (the simulated UZI-pas) in a WebDriver
// session, and logs the token in before the first TLS client authentication.
//
// Run it in Firefox's privileged (chrome) context, as an asynchronous script with the PIN as its one argument:
// geckodriver started with `--allow-system-access`, then `POST /session/{id}/moz/context {"context":"chrome"}` and
// `POST /session/{id}/execute/async {"script": <this file>, "args": ["<PIN>"]}`. It resolves with every token it saw
// ({tokens: [{module, token, hasPassword, loggedIn}], asked: [interface of each PIN prompt]}), or {"error": "..."}.
//
// How (Firefox's own PKCS#11 tests do the same, security/manager/ssl/tests/): an nsIPromptFactory registered for
// @mozilla.org/prompter;1 hands out a prompt whose promptPassword sets the PIN; nsIPK11Token.login(false) then asks
// that prompt. The PIN stays in this session's memory only.
const [pin, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  // Who asked for the PIN, and how often: reported back, the PIN never.
  const asked = [];
  const prompt = {
    QueryInterface: ChromeUtils.generateQI(["nsIPrompt"]),
    promptPassword(_title, _text, password) {
      asked.push("nsIPrompt");
      password.value = pin;
      return true;
    },
    alert() {},
    confirm() {
      return true;
    },
  };
  // The same contract ID also serves nsIPromptService (toolkit/components/prompts/src/Prompter.sys.mjs), whose
  // promptPassword takes the parent window first.
  const factory = {
    QueryInterface: ChromeUtils.generateQI(["nsIPromptFactory", "nsIPromptService"]),
    getPrompt(_window, iid) {
      return prompt.QueryInterface(iid);
    },
    promptPassword(_parent, _title, _text, password) {
      asked.push("nsIPromptService");
      password.value = pin;
      return true;
    },
    alert() {},
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
  // security/manager/ssl/nsIPK11Token.idl: hasPassword (the token asks for a PIN) is an attribute, isLoggedIn()
  // a method; either shape is read.
  const value = (token, name) => (typeof token[name] === "function" ? token[name]() : token[name]);
  const tokens = [];
  for (const module of await modules.listModules()) {
    for (const slot of module.slots) {
      let token = null;
      try {
        token = slot.getToken();
      } catch (_) {
        continue;
      }
      if (token && token.tokenName && value(token, "hasPassword") && !value(token, "isLoggedIn")) {
        token.login(false);
      }
      if (token) {
        tokens.push({
          module: module.name,
          token: token.tokenName,
          hasPassword: value(token, "hasPassword"),
          loggedIn: value(token, "isLoggedIn"),
        });
      }
    }
  }
  return { tokens, asked };
})().then(done, (e) => done({ error: String(e) }));
