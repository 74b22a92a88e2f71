// zorgcard browser kit: Firefox preferences for logging in with the simulated card (written by
// `zorgcard browser-profile`; Firefox reads user.js at every start).
// The card's authentication certificate is offered without the "User Identification Request" dialog.
user_pref("security.default_personal_cert", "Select Automatically");
// Only the profile's own PKCS#11 modules (OpenSC): not the operating system's client certificates.
user_pref("security.osclientcerts.autoload", false);
// TLS 1.2 at most: TLS 1.3 with an RSA card needs RSA-PSS, which OpenSC 0.23 does not sign with.
user_pref("security.tls.version.max", 3);
// The test servers' CAs are in this profile's NSS database; no OCSP fetches for server certificates.
user_pref("security.enterprise_roots.enabled", false);
user_pref("security.OCSP.enabled", 0);
// No first-run, default-browser or what's-new pages.
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("startup.homepage_welcome_url", "");
user_pref("browser.startup.page", 0);
user_pref("trailhead.firstrun.didSeeAboutWelcome", true);
// No telemetry or studies.
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("toolkit.telemetry.archive.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("app.shield.optoutstudies.enabled", false);
// No updates of Firefox, add-ons or search engines.
user_pref("app.update.auto", false);
user_pref("app.update.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("browser.search.update", false);
// No background connections: captive portal and connectivity checks, Safe Browsing, prefetching, remote settings.
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.downloads.remote.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.predictor.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.newtabpage.activity-stream.feeds.topsites", false);
user_pref("browser.newtabpage.activity-stream.feeds.section.topstories", false);
user_pref("services.settings.server", "data:,#remote-settings-off");
