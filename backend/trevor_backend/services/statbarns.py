"""The statbarn catalogue as this deployment applies it (its SDC parameters filled in)."""

from __future__ import annotations

from ..schemas import StatbarnList
from ..sdc import statbarns
from ..sdc.params import Params
from .context import Context


def catalogue(ctx: Context) -> StatbarnList:
    params = Params.from_mapping(ctx.settings.sdc_params)
    return StatbarnList.model_validate(statbarns.catalogue_json(params))
