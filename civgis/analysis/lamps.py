"""A street lamp's recorded state: the one rule every indicator, plan, table and map reads.

The ``lamps`` layer's ``status`` is ``working`` (亮), ``broken`` (故障) or ``unknown``; blank,
missing and any other value count as unknown. A lamp without a known state has not been
patrolled (an OpenStreetMap import records none): it counts in 路灯数 but in neither the numerator
nor the denominator of 亮灯率 (lamps lit ÷ lamps whose patrol or monitoring status says whether
they should be lit, common usage; the target ≥ 98 % from the 2000 garden-city standard), and it is
not "not broken".

Examples
--------
>>> import pandas as pd
>>> states = lamp_states(pd.DataFrame({"status": ["working", "broken", "unknown", None, "Working"]}))
>>> states.working.tolist(), states.broken.tolist(), states.known.tolist()
([True, False, False, False, False], [False, True, False, False, False], [True, True, False, False, False])
>>> states.codes().tolist()
['working', 'broken', 'unknown', 'unknown', 'unknown']
>>> lamp_states(pd.DataFrame(index=range(2))).unknown.tolist()   # no status field at all
[True, True]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["KNOWN_STATES", "LampStates", "lamp_states"]

#: the states a patrol records; anything else is unknown
KNOWN_STATES = ("working", "broken")


@dataclass(frozen=True)
class LampStates:
    """Boolean arrays over the lamps, row for row.

    Attributes
    ----------
    working, broken : numpy.ndarray of bool
        Recorded lit, recorded broken.
    """

    working: np.ndarray
    broken: np.ndarray

    @property
    def known(self) -> np.ndarray:
        """A state was recorded (working or broken)."""
        return self.working | self.broken

    @property
    def unknown(self) -> np.ndarray:
        """No state recorded (``unknown``, blank or missing)."""
        return ~self.known

    def codes(self) -> np.ndarray:
        """Each lamp's state as ``working``, ``broken`` or ``unknown`` (the catalogue's status values)."""
        return np.where(self.working, "working", np.where(self.broken, "broken", "unknown")).astype(object)


def lamp_states(lamps: pd.DataFrame) -> LampStates:
    """Each lamp's recorded state from the ``status`` field (all unknown without it)."""
    if "status" not in lamps:
        none = np.zeros(len(lamps), dtype=bool)
        return LampStates(none, none.copy())
    status = lamps["status"].astype("string").fillna("")
    return LampStates(status.eq(KNOWN_STATES[0]).to_numpy(dtype=bool), status.eq(KNOWN_STATES[1]).to_numpy(dtype=bool))
