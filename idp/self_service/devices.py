"""How an open session reads on « gérer son compte »: "Firefox sur Windows", "Safari sur
iPhone", never a raw user-agent string. The parsing is ua-parser's (the Browserscope rules)."""

import ipaddress
from functools import lru_cache

from flask_babel import gettext as _
from ua_parser import parse

# ua-parser names a browser's mobile or embedded variants apart; a person knows one name.
BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "HeadlessChrome": "Chrome",
    "Edge Mobile": "Edge",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Opera Mobile": "Opera",
}
SYSTEM_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}
# On iOS the device says more than the system: "Safari sur iPhone".
APPLE_DEVICES = ("iPhone", "iPad", "iPod")


@lru_cache(maxsize=512)
def _browser_and_system(user_agent):
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    system = result.os.family if result.os else None
    device = result.device.family if result.device else None
    if browser in (None, "Other"):
        browser = None
    if system in (None, "Other"):
        system = None
    if device in APPLE_DEVICES:
        system = device
    return BROWSER_NAMES.get(browser, browser), SYSTEM_NAMES.get(system, system)


def describe_device(user_agent):
    """The browser and system of a user-agent string, in words: "Firefox sur Windows"."""
    browser, system = _browser_and_system((user_agent or "").strip())
    if browser and system:
        return _("%(browser)s sur %(system)s", browser=browser, system=system)
    if browser:
        return browser
    if system:
        return _("Navigateur inconnu sur %(system)s", system=system)
    return _("Navigateur inconnu")


def coarse_address(ip):
    """An address as a session list shows it: enough to tell two places apart, not a whole
    address ("203.0.113.…", "2001:db8:85a3:…"). There is no geolocation database offline."""
    try:
        parsed = ipaddress.ip_address(ip or "")
    except ValueError:
        return ""
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if parsed.version == 4:
        return ".".join(str(parsed).split(".")[:3]) + ".…"
    return ":".join(group.lstrip("0") or "0" for group in parsed.exploded.split(":")[:3]) + ":…"
