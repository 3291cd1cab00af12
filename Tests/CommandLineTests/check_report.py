"""Opens a report in headless Chromium (Debian's, driven by Playwright) with the network cut off, for
ReportTests. Prints one JSON object: console errors and page errors, every request that left the file, the
page's SVG elements by class, its image count and section titles, and whether it overflows the window, at
each width. Screenshots go to SHOTS-DIR/report-<width>.png.

usage: check_report.py REPORT.html SHOTS-DIR [CHROMIUM]"""
import json
import os
import sys

from playwright.sync_api import sync_playwright

report, shots = os.path.abspath(sys.argv[1]), sys.argv[2]
chromium = sys.argv[3] if len(sys.argv) > 3 else "/usr/bin/chromium"
result = {"widths": {}}
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--use-angle=swiftshader",
                                                                          "--enable-unsafe-swiftshader"])
    for width in (1280, 800):
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors, outside = [], []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))

        # Nothing but the file itself and its data: URLs may load.
        def route(request_route):
            url = request_route.request.url
            if url.startswith("file:") or url.startswith("data:"):
                request_route.continue_()
            else:
                outside.append(url)
                request_route.abort()

        page.route("**/*", route)
        page.goto("file://" + report, wait_until="load")
        path = os.path.join(shots, f"report-{width}.png")
        page.screenshot(path=path, full_page=True)
        result["widths"][str(width)] = {
            "errors": errors,
            "outside_requests": outside,
            "svg": page.evaluate("document.querySelectorAll('svg').length"),
            "charts": page.evaluate("document.querySelectorAll('svg.chart').length"),
            "heatmap_cells": page.evaluate("document.querySelectorAll('svg.heatmap rect').length"),
            "polylines": page.evaluate("document.querySelectorAll('svg polyline').length"),
            "images_loaded": page.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length"),
            "sections": page.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)"),
            "overflows": page.evaluate("document.documentElement.scrollWidth > window.innerWidth"),
            "screenshot": path,
        }
        page.close()
    browser.close()
print(json.dumps(result))
