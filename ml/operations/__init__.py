"""Each operation of the pipeline declared once, torch-free: its settings, defaults, checks and files.

| operation | declaration | run by |
| --- | --- | --- |
| crawl | `crawl.CrawlRequest` (what to fetch; how: `ml.crawl.CrawlConfig`) | `ml.crawl.crawl` |
| crawl classes | `crawl.CrawlClassesRequest` (several classes at once) | `ml.crawl.crawl_together` |
| scan/split | `split.SplitConfig` | `ml.dataset.split` |
| train | `train.TrainConfig`, `train.run_folder` | `ml.training.train` |
| evaluate | `evaluate.EvaluateConfig`, `evaluate.report_files` | `ml.evaluate.evaluate` |
| export | `export.ExportConfig`, `export.onnx_paths` | `ml.export.export_onnx` |
| build | `build.BuildRequest` (classes, pictures per class, recipe), `build.STEPS` | `webapp.builds` (the other jobs in turn) |
| review | `review.ReviewConfig` | `ml.review.find_suspects` |

The CLI (`webapp.cli.options`), the admin forms, the API (`webapp.tasks`) and the jobs (`jobs.*`)
are adapters over these. `names.check_name` is the one rule for dataset and class names.
Nothing here imports torch (an import-linter contract says so).
"""

from .build import BuildRequest
from .crawl import CrawlClassesRequest, CrawlRequest
from .evaluate import EvaluateConfig
from .export import ExportConfig
from .fields import Config, Setting
from .names import BadName, check_name, clean_name
from .review import ReviewConfig
from .split import SplitConfig
from .train import TrainConfig

#: The operation configs by job kind (the web app's job kinds use the same names).
CONFIGS: dict[str, type[Config]] = {"crawl": CrawlRequest, "crawl_classes": CrawlClassesRequest, "split": SplitConfig, "train": TrainConfig,
                                    "evaluate": EvaluateConfig, "export": ExportConfig, "review": ReviewConfig}

__all__ = ["CONFIGS", "BadName", "BuildRequest", "Config", "CrawlClassesRequest", "CrawlRequest", "EvaluateConfig", "ExportConfig", "ReviewConfig", "Setting", "SplitConfig",
           "TrainConfig", "check_name", "clean_name"]
