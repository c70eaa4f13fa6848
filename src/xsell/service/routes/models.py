"""``GET /v1/models``: the stored versions and the serving version's coefficients."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from xsell.service.deps import StateDep, require_api_key
from xsell.service.errors import KEYED_ERRORS
from xsell.service.schemas import ModelsResponse

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/models",
    tags=["models"],
    dependencies=[Depends(require_api_key)],
    responses=KEYED_ERRORS,
)


@router.get("")
def models(state: StateDep) -> ModelsResponse:
    """Every stored version, and the coefficients (with uncertainty) of the serving one."""
    versions = state.registry.versions()
    for col in ("created_at", "learned_at"):
        versions[col] = versions[col].map(lambda t: None if t is None else t.isoformat())
    versions["parent_version"] = versions["parent_version"].astype(object)
    versions = versions.where(versions.notna(), None)
    coefficients = state.agent.coefficients()
    return ModelsResponse(
        serving_version=state.model_version,
        versions=[{str(k): v for k, v in r.items()} for r in versions.to_dict("records")],
        coefficients=[{str(k): v for k, v in r.items()} for r in coefficients.to_dict("records")],
    )
