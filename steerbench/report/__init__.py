"""Run outputs: write a run directory and render its summary, figures and examples.

``render_report(run_dir)`` re-renders summary.csv, figures/ and examples.md from the parquet
files of a finished run; ``write_run`` is what the pytest plugin calls at session end. This
package imports pandas and matplotlib, so the plugin imports it only when it writes.
"""

from steerbench.report.render import render_report
from steerbench.report.run_dir import write_run

__all__ = ["render_report", "write_run"]
