"""What the fake Baidu serves: acjson pages in Baidu's exact shape and the pictures behind them."""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import quote

from PIL import Image

from ml.crawl.parse import encode_objurl
from tests import imagegen


def acjson_item(fake, word: str, index: int) -> dict:
    """One result object of an acjson page, with the fields Baidu sends."""
    url = fake.picture_url(word, index)
    if fake.kind(index) == "gimg":
        url = (
            "https://gimg2.baidu.com/image_search/src=" + quote(url, safe="")
            + "&refer=http%3A%2F%2Fwww.example.com&app=2002&size=f9999,10000&q=a80&n=0&g=0n&fmt=auto"
            + f"?sec={1700000000 + index}&t=5c2b1d"
        )
    page = f"http://www.example.com/cats/{index}.html"
    thumb = fake.thumb_url(word, index)
    return {
        "adType": "0",
        "hasAspData": "0",
        "thumbURL": thumb,
        "middleURL": thumb,
        "largeTnImageUrl": "",
        "hasLarge": 0,
        "hoverURL": thumb,
        "pageNum": index,
        "objURL": encode_objurl(url),
        "fromURL": encode_objurl(page),
        "fromURLHost": "http://www.example.com",
        "currentIndex": "",
        "width": 96,
        "height": 72,
        "type": "jpg",
        "is_gif": 0,
        "isCopyright": 0,
        "bdSrcType": "0",
        "di": str(7000000000 + index),
        "is": "0,0",
        "fromPageTitle": f"<strong>{word}</strong>@@Q@@s picture@@C@@ {index}",
        "fromPageTitleEnc": f"{word}@@Q@@s picture {index}",
        "bdSourceName": "",
        "bdFromPageTitlePrefix": "",
        "token": "",
        "imgType": "",
        "cs": f"{index},{index * 7}",
        "os": f"{index * 3},{index * 5}",
        "simid": f"{index},{index}",
        "personalized": "0",
        "replaceUrl": [{"ObjURL": fake.picture_url(word, index), "FromURL": page}],
    }


def acjson_body(fake, word: str, pn: int, rn: int) -> bytes:
    """One result page as Baidu serves it: classic acjson with its quirks, or the newer variant."""
    total = fake.options.total
    indices = range(pn, min(pn + rn, total))
    if fake.options.variant == "new":
        doc = {"errno": 0, "errmsg": "", "data": {"images": [{"thumburl": fake.thumb_url(word, i)} for i in indices]}}
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    doc = {
        "queryEnc": quote(word),
        "queryExt": word,
        "listNum": total,
        "displayNum": total,
        "gsm": format(pn + rn, "x"),
        "bdFmtDispNum": f"约{total}",
        "bdSearchTime": "",
        "isNeedAsyncRequest": 0,
        "bdIsClustered": "1",
        "data": [acjson_item(fake, word, i) for i in indices] + [{}],
    }
    text = json.dumps(doc, ensure_ascii=False)
    # Baidu's own quirks: an invalid \' escape and raw control characters inside strings.
    return text.replace("@@Q@@", "\\'").replace("@@C@@", "\x01\t").encode("utf-8")


@lru_cache(maxsize=4096)
def picture_bytes(seed: int, ext: str) -> bytes:
    fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[ext]
    return imagegen.encode(imagegen.shapes(seed, (96, 72)), fmt, **({"quality": 90} if fmt == "JPEG" else {}))


@lru_cache(maxsize=8)
def fixed_bytes(kind: str) -> bytes:
    if kind == "tiny":
        return imagegen.encode(Image.new("RGB", (1, 1), (200, 100, 50)), "PNG")
    if kind == "bomb":
        return imagegen.bomb_png(10_000)
    if kind == "truncated":
        return imagegen.truncated_jpeg(7)
    return imagegen.html_page()
