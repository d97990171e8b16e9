"""UI language of the desktop client: Simplified Chinese and English from an in-code catalogue.

Messages are keyed by their English text, as in the web app; a missing translation falls back to
that text, so the window never shows a blank. The starting language follows the system locale
(`QLocale`), and a choice made in the Language menu is remembered in the settings.
"""

from __future__ import annotations

from typing import Any

#: Languages the client speaks; names as shown in the Language menu.
LANGUAGES = ("zh", "en")
LANGUAGE_NAMES = {"zh": "简体中文", "en": "English"}

#: English text → Simplified Chinese.
ZH: dict[str, str] = {
    # window and menus
    "Animal recogniser": "动物识别",
    "&File": "文件(&F)",
    "&Language": "语言(&L)",
    "Open image...": "打开图片...",
    "Paste image": "粘贴图片",
    "Open folder (batch)...": "打开文件夹（批量）...",
    "Open model...": "打开模型...",
    "Exit": "退出",
    "Single image": "单张图片",
    "Folder (batch)": "文件夹（批量）",
    "Open image": "打开图片",
    "Paste": "粘贴",
    "Recognise": "开始识别",
    "Recognise right after loading": "打开图片后立即识别",
    "Drop a picture here, paste one (Ctrl+V), or click “Open image”.": "把图片拖到这里、粘贴（Ctrl+V），或点击“打开图片”。",
    "Result": "识别结果",
    "No result yet.": "还没有结果。",
    "Model: {name}": "模型：{name}",
    "Model: none": "模型：无",
    "Loading model…": "正在加载模型…",
    "Recognising…": "正在识别…",
    "Loading image…": "正在读取图片…",
    "Took {ms:.0f} ms": "耗时 {ms:.0f} 毫秒",
    "Choose folder...": "选择文件夹...",
    "Cancel": "取消",
    "Export CSV...": "导出 CSV...",
    "Copy into class folders...": "按类别复制到文件夹...",
    "File": "文件",
    "Label": "类别",
    "Probability": "概率",
    "Note": "备注",
    "No folder chosen.": "尚未选择文件夹。",
    "{done} of {total} pictures": "已处理 {done} / {total} 张",
    "Finished: {ok} recognised, {bad} unreadable.": "完成：识别 {ok} 张，{bad} 张无法读取。",
    "Cancelled after {done} of {total} pictures.": "已取消：处理了 {done} / {total} 张。",
    "Saved {path}": "已保存 {path}",
    "Copied {n} pictures into {dest} (originals untouched).": "已复制 {n} 张图片到 {dest}（原文件未改动）。",
    "Model loaded: {name}": "模型已加载：{name}",
    # "none of my classes"
    "This photo doesn't look like any animal I know — closest: {label} {percent}":
        "这张照片不像我认识的任何一种动物 — 最像：{label} {percent}",
    "Unknown-photo check not available for this model.": "此模型没有“不认识的照片”检查。",
    "Unknown?": "不认识？",
    "yes": "是",
    "no": "否",
    "n/a": "不适用",
    # dialogs
    "Do you want to exit the program?": "是否要退出程序？",
    "Choose an image": "选择图片",
    "Choose a model file": "选择模型文件",
    "Choose a folder of pictures": "选择图片文件夹",
    "Choose where to copy the class folders": "选择复制类别文件夹的位置",
    "Save results as CSV": "结果另存为 CSV",
    "Images": "图片",
    "Models": "模型",
    "No model found. Choose a model file (.pt or .onnx) to start.": "没有找到模型。请选择一个模型文件（.pt 或 .onnx）。",
    # errors
    "Error": "错误",
    "Cannot open this image": "无法打开这张图片",
    "Cannot open this model": "无法打开这个模型",
    "Cannot read this folder": "无法读取这个文件夹",
    "Cannot save": "无法保存",
    "Recognition failed": "识别失败",
    "No model is loaded yet. Use File → Open model...": "还没有加载模型。请使用“文件 → 打开模型...”。",
    "Open or paste an image first.": "请先打开或粘贴一张图片。",
    "The clipboard holds no image.": "剪贴板里没有图片。",
    "A batch is already running.": "批量识别正在进行中。",
    "There are no results to save yet.": "还没有可以保存的结果。",
    "The folder holds no pictures.": "这个文件夹里没有图片。",
    "unreadable": "无法读取",
}

#: Short explanations for error codes from ml.images / ml.predict, shown above the detail line.
ERROR_SUMMARIES = {
    "empty": "The file is empty.",
    "not_image": "This file is not a picture.",
    "truncated": "The picture is truncated or corrupt.",
    "too_many_pixels": "The picture is too large to open safely.",
    "too_small": "The picture is too small to recognise.",
    "not_found": "The file does not exist.",
    "unreadable": "The file cannot be read.",
    "model_missing": "The model file does not exist.",
    "model_corrupt": "The model file is damaged or not a model.",
    "model_incompatible": "The model file was made by an incompatible version.",
}
ZH.update(
    {
        "{percent} on {count} photos from other sources": "在 {count} 张其他来源照片上 {percent}",
        "{percent} in-source test": "同源测试 {percent}",
        "The file is empty.": "文件是空的。",
        "This file is not a picture.": "这个文件不是图片。",
        "The picture is truncated or corrupt.": "图片不完整或已损坏。",
        "The picture is too large to open safely.": "图片太大，无法安全打开。",
        "The picture is too small to recognise.": "图片太小，无法识别。",
        "The file does not exist.": "文件不存在。",
        "The file cannot be read.": "无法读取这个文件。",
        "The model file does not exist.": "模型文件不存在。",
        "The model file is damaged or not a model.": "模型文件已损坏或不是模型。",
        "The model file was made by an incompatible version.": "模型文件与当前版本不兼容。",
    }
)


def tr(text: str, lang: str, **params: Any) -> str:
    """Translate English `text` into `lang` and fill `{params}`; unknown text stays English."""
    out = ZH.get(text, text) if lang == "zh" else text
    return out.format(**params) if params else out


def percent(p: float) -> str:
    """A probability as a percentage that never claims certainty it rounds to (>99.9%, <0.1%)."""
    if p >= 0.9995:
        return ">99.9%"
    if 0 < p < 0.0005:
        return "<0.1%"
    return f"{p:.1%}"


def language_for_locale(locale_name: str) -> str:
    """Pick the UI language for a locale name such as `zh_CN` or `en_US` (Chinese for any zh_*)."""
    return "zh" if locale_name.lower().startswith("zh") else "en"


def error_text(exc: BaseException, lang: str) -> str:
    """A readable message for an error: a translated summary for known codes, then the detail."""
    code = getattr(exc, "code", None)
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    summary = ERROR_SUMMARIES.get(code) if code else None
    return f"{tr(summary, lang)}\n\n{detail}" if summary else detail
