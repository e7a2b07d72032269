"""A hostile news site on 127.0.0.1: article pages whose headline, byline, text, captions and
URLs carry markup, script, ``javascript:`` links, event handlers, ``</textarea>`` breakouts and
terminal escapes, as text (escaped in the HTML, so an extractor reads them as words). Stdlib
only; ``version`` switches between two versions so a diff exists.

Terminal escapes are in the byline only: in the body they make trafilatura find no text at all
(the check is then a recorded failure), so the test stores such text directly as well."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAYLOADS = (
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned='onerror'\">",
    "</textarea><svg onload=\"window.__pwned='svg'\">",
    "javascript:window.__pwned='link'",
    "\x1b[2J\x1b[31mTERMINAL\x1b[0m\x07",
    "\"><iframe src=javascript:alert(1)>",
    "{{7*7}} ${7*7} <!-- comment --> ]]> <![CDATA[x]]>",
)
LONG = "A" * 600  # one unbroken word: must not widen the page


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def page(version: int, base: str) -> bytes:
    title = f"Evil headline {PAYLOADS[0]} {PAYLOADS[2]} v{version}"
    paragraphs = [
        f"Ein ganz normaler erster Absatz der Geschichte, lang genug für einen Absatz, Nummer "
        f"{version}.",
        f"Zweiter Absatz mit Markup im Text: {PAYLOADS[0]} und {PAYLOADS[1]} und weiteren Wörtern.",
        f"Dritter Absatz mit einem Link-Text {PAYLOADS[3]} und {PAYLOADS[5]} mitten im Satz.",
        f"Vierter Absatz mit Vorlagen-Syntax {PAYLOADS[6]} am Ende.",
        f"Fünfter Absatz, ein sehr langes Wort: {LONG} und danach noch ein paar Wörter mehr.",
    ]
    if version == 2:
        paragraphs.insert(2, f"Neuer Absatz in Version zwei mit {PAYLOADS[2]} und mehr Text dazu.")
        paragraphs[1] = paragraphs[1].replace("weiteren Wörtern", "anderen Wörtern")
    filler = ("Die Regierung äußerte sich am Mittwoch ausführlich zu den Vorwürfen, die seit "
              "Tagen in der Hauptstadt diskutiert werden, und kündigte eine Untersuchung an.")
    paragraphs = [f"{p} {filler}" for p in paragraphs]
    body = "\n".join(f"<p>{_text(p)}</p>" for p in paragraphs)
    caption = _text(f"Bildunterschrift {PAYLOADS[2]} {PAYLOADS[1]} v{version}")
    image = f"javascript:window.__pwned='img'//{version}.jpg"
    byline = _text(f"Mallory {PAYLOADS[1]} {PAYLOADS[4]}")
    return f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8">
<title>{_text(title)}</title>
<meta property="og:title" content="{_text(title)}">
<meta name="author" content="{byline}">
<meta property="og:image" content="{_text(image)}">
<meta property="og:image:alt" content="{caption}">
<link rel="canonical" href="{_text(base)}/news/evil?x=%22%3E%3Cscript%3E">
<meta property="article:published_time" content="2024-06-19T04:00:00Z">
</head><body><main><article>
<h1>{_text(title)}</h1>
<div class="byline">{byline}</div>
<figure><img src="{_text(base)}/img/evil-{version}.jpg?q=%22%3E%3Cscript%3E">
<figcaption>{caption}</figcaption></figure>
{body}
</article></main></body></html>""".encode()


class HostileSite:
    def __init__(self) -> None:
        self.version = 1
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page(site.version, site.base_url)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> HostileSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
