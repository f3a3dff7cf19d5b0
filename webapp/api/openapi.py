"""The OpenAPI 3.1 description of API v1, written by hand next to the views it describes."""

from __future__ import annotations

from webapp.images.services import COLOR_FIXES, OUTPUT_FORMATS
from webapp.images.videos import CODECS
from webapp.jobs.models import JobStatus

_ERROR = {"description": "Error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}
_JOB_ID = {"name": "id", "in": "path", "required": True,
           "schema": {"type": "string", "format": "uuid"}}


def _json(ref: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


SCHEMAS = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"}}},
    "Progress": {
        "type": "object", "description": "sr_engine.progress.ProgressEvent.to_dict()",
        "properties": {
            "v": {"type": "integer"}, "stage": {"type": "string", "enum": [
                "queued", "loading", "tiling", "training", "validating", "encoding",
                "saving", "done", "failed"]},
            "current": {"type": "integer"}, "total": {"type": "integer"},
            "message": {"type": "string"},
            "metrics": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
            "eta_s": {"type": ["number", "null"]}, "ts": {"type": "number"}}},
    "Metrics": {
        "type": "object",
        "properties": {"mode": {"type": "string", "enum": ["reference", "self-check"]},
                       "region": {"type": "string", "description": "the part of the upload "
                                  "a self-check measured ('' = all of it)"},
                       "model": {"$ref": "#/components/schemas/Figures"},
                       "bicubic": {"$ref": "#/components/schemas/Figures"},
                       "unavailable": {"type": "string", "description": "why there is no "
                                       "PSNR/SSIM (an image too small for the self-check)"},
                       "niqe_region": {"type": "string", "description": "the part of each "
                                       "output NIQE measured ('' = all but the scale border; "
                                       "'centre 1024 px crop' on larger outputs)"},
                       "niqe_note": {"type": "string", "description": "why NIQE is absent "
                                     "(no NIQE model file on the server, an output too small "
                                     "for a meaningful value); only then"},
                       "objective": {"type": "string", "enum": ["psnr", "perceptual"],
                                     "description": "what the model was trained for"}}},
    "Figures": {
        "type": "object", "description": "one output's figures",
        "properties": {"psnr_y": {"type": ["number", "null"]},
                       "ssim_y": {"type": ["number", "null"]},
                       "psnr_rgb": {"type": ["number", "null"]},
                       "niqe": {"type": ["number", "null"], "description":
                                "NIQE of the output itself (Y channel, no reference; lower is "
                                "more natural); null when it could not be computed"}}},
    "Job": {
        "type": "object", "required": ["id", "status"],
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "kind": {"type": "string"},
            "status": {"type": "string", "enum": [s.value for s in JobStatus]},
            "model": {"type": ["string", "null"]}, "scale": {"type": ["integer", "null"]},
            "media": {"type": ["string", "null"], "enum": ["image", "video", None]},
            "frames": {"oneOf": [{"$ref": "#/components/schemas/Frames"}, {"type": "null"}]},
            "progress": {"$ref": "#/components/schemas/Progress"},
            "error": {"type": ["string", "null"]},
            "attempts": {"type": "integer", "description": "times a worker took the job"},
            "metrics": {"oneOf": [{"$ref": "#/components/schemas/Metrics"}, {"type": "null"}]},
            "output": {"type": ["object", "null"],
                       "properties": {"width": {"type": "integer"},
                                      "height": {"type": "integer"},
                                      "format": {"type": "string"},
                                      "codec": {"type": "string", "description": "videos"},
                                      "frames": {"type": "integer", "description": "videos"}}},
            "output_url": {"type": ["string", "null"], "format": "uri"},
            "timings": {"type": ["object", "null"], "description":
                        "seconds per part of a done upscale: load (model from the worker's "
                        "cache), model, baseline (bicubic), preview, check (PSNR/SSIM), niqe, "
                        "progress (storing and sending progress events) and engine (the parts "
                        "less progress)",
                        "additionalProperties": {"type": "number"}},
            "websocket": {"type": "string",
                          "description": "path of the progress websocket; add ?token=<token>"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"}}},
    "Frames": {
        "type": "object", "description": "a video job's frames: done and in all (null when "
        "the clip does not say), frames per second and seconds left while it runs",
        "properties": {"done": {"type": ["integer", "null"]},
                       "total": {"type": ["integer", "null"]},
                       "fps": {"type": ["number", "null"]},
                       "eta_s": {"type": ["number", "null"]},
                       "resumed": {"type": ["integer", "null"], "description":
                                   "once done: frames a rerun kept from the finished "
                                   "segments of a run whose worker died"}}},
    "Model": {"type": "object", "properties": {
        "id": {"type": "string"}, "label": {"type": "string"},
        "scales": {"type": "array", "items": {"type": "integer"}},
        "description": {"type": "string"}, "kind": {"type": "string"},
        "video_only": {"type": "boolean"},
        "objective": {"type": "string", "enum": ["psnr", "perceptual"], "description":
                      "psnr: trained for fidelity to the original; perceptual: for sharp, "
                      "natural-looking texture, at a lower PSNR (may invent detail)"},
        "note": {"type": "string", "description": "the trade-off of a perceptual model in "
                 "plain words ('' for the others)"}}},
}


_RUN_ID = {**_JOB_ID, "description": "training job (run) id"}
_OBJ = {"description": "JSON object", "content": {"application/json": {
    "schema": {"type": "object"}}}}
# Training studio (staff tokens only; others get 403). Payloads: docs/WEB.md.
TRAINING_PATHS = {
    "/api/v1/datasets": {
        "get": {"summary": "Datasets", "responses": {"200": _OBJ, "403": _ERROR}},
        "post": {"summary": "Upload a zip/tar of HR images (multipart 'name', 'archive') or "
                            "register a server folder (JSON or form 'name', 'folder')",
                 "requestBody": {"required": True, "content": {
                     "multipart/form-data": {"schema": {
                         "type": "object", "required": ["name"], "properties": {
                             "name": {"type": "string"},
                             "archive": {"type": "string", "format": "binary"},
                             "strict": {"type": "boolean", "default": False, "description":
                                        "refuse the archive when an image is unreadable, too "
                                        "small or too large; by default those are skipped "
                                        "and listed in the response's 'skipped'"},
                             "folder": {"type": "string"}}}},
                     "application/json": {"schema": {
                         "type": "object", "required": ["name", "folder"], "properties": {
                             "name": {"type": "string"}, "folder": {"type": "string"}}}}}},
                 "responses": {"201": _OBJ, "400": _ERROR, "403": _ERROR}}},
    "/api/v1/training-jobs": {
        "get": {"summary": "Training runs", "responses": {"200": _OBJ, "403": _ERROR}},
        "post": {"summary": "Queue a training run",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"type": "object", "required": ["arch", "scale",
                                                                "train_dataset"],
                                "properties": {
                                    "arch": {"type": "string"}, "scale": {"type": "integer"},
                                    "train_dataset": {"type": ["integer", "string"]},
                                    "val_dataset": {"type": ["integer", "string", "null"]},
                                    "recipe": {"type": "string"},
                                    "overrides": {"type": "object"},
                                    "queue": {"type": "string"}, "name": {"type": "string"}}}}}},
                 "responses": {"201": _OBJ, "400": _ERROR, "403": _ERROR}}},
    "/api/v1/training-jobs/{id}": {"get": {
        "summary": "Status, step, latest metrics, checkpoints", "parameters": [_RUN_ID],
        "responses": {"200": _OBJ, "404": _ERROR, "403": _ERROR}}},
    "/api/v1/evaluations": {"post": {
        "summary": "Evaluate a catalogue model beside bicubic on datasets (PSNR/SSIM on Y)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["model", "scale", "datasets"], "properties": {
                "model": {"type": "string", "description": "an id from GET /api/v1/models"},
                "scale": {"type": "integer"},
                "datasets": {"type": "array", "items": {"type": ["integer", "string"]}},
                "queue": {"type": "string"}}}}}},
        "responses": {"201": _OBJ, "400": _ERROR, "403": _ERROR}}},
    "/api/v1/evaluations/{id}": {"get": {
        "summary": "Status and, when done, one result per dataset beside bicubic",
        "parameters": [{**_JOB_ID, "description": "evaluation job id"}],
        "responses": {"200": _OBJ, "404": _ERROR, "403": _ERROR}}},
    **{f"/api/v1/training-jobs/{{id}}/{action}": {"post": {
        "summary": text, "parameters": [_RUN_ID],
        "responses": {"200": _OBJ, "201": _OBJ, "400": _ERROR, "404": _ERROR}}}
       for action, text in (("cancel", "Cancel the current attempt"),
                            ("resume", "Resume from the last saved state"),
                            ("promote", "Promote the best/last checkpoint: {name, which}"))},
}


def openapi_schema(server: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "SR Studio API", "version": "1"},
        "servers": [{"url": server.rstrip("/")}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "python manage.py create_api_token USERNAME"}},
            "schemas": SCHEMAS},
        "paths": {
            "/api/v1/jobs": {
                "get": {"summary": "Your latest jobs", "responses": {"200": {
                    "description": "Jobs", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"jobs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Job"}}}}}}}}},
                "post": {
                    "summary": "Upscale an image or a video (.mp4, .m4v, .mov, .mkv, .webm: "
                               "probed and held to the video limits before it is queued)",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "properties": {
                            "image": {"type": "string", "format": "binary"},
                            "video": {"type": "string", "format": "binary",
                                      "description": "instead of 'image'"},
                            "codec": {"type": "string", "enum": list(CODECS),
                                      "description": "videos: the output's video codec "
                                      "(default: h264, vp9 for WebM)"},
                            "crf": {"type": "integer", "minimum": 0, "maximum": 63,
                                    "description": "videos: encoder quality, lower is "
                                    "better (default SR_VIDEO_CRF)"},
                            "model": {"type": "string", "default": "bicubic",
                                      "description": "an id from GET /api/v1/models"},
                            "scale": {"type": "integer", "default": 4},
                            "format": {"type": "string",
                                       "enum": [k for k in OUTPUT_FORMATS if k]},
                            "color_fix": {"type": "string", "enum": list(COLOR_FIXES),
                                          "default": "auto",
                                          "description": "give the output the input's "
                                          "colours: hist (histogram matching), meanstd "
                                          "(mean/std transfer), none; auto = what the model "
                                          "asks for (none for PSNR-trained models)"},
                            "reference": {"type": "string", "format": "binary",
                                          "description": "HR image, scale x the input"}}}}}},
                    "responses": {"201": {"description": "Queued", "content": {
                        "application/json": {"schema": {"type": "object", "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "status": {"type": "string"},
                            "url": {"type": "string", "format": "uri"}}}}}},
                        "400": _ERROR, "401": _ERROR, "413": _ERROR, "429": _ERROR,
                        "503": _ERROR}}},
            "/api/v1/jobs/{id}": {
                "get": {
                    "summary": "A job's status, latest progress, metrics and output URL",
                    "parameters": [_JOB_ID],
                    "responses": {"200": _json("Job", "The job"), "404": _ERROR, "401": _ERROR}},
                "delete": {
                    "summary": "Delete a finished job with its files (and its image, if no "
                               "other job used it); 409 while it is queued or running",
                    "parameters": [_JOB_ID],
                    "responses": {"204": {"description": "Deleted"}, "404": _ERROR,
                                  "409": _ERROR, "401": _ERROR}}},
            "/api/v1/jobs/{id}/cancel": {"post": {
                "summary": "Cancel a queued or running job", "parameters": [_JOB_ID],
                "responses": {"200": _json("Job", "The job"), "404": _ERROR}}},
            "/api/v1/jobs/{id}/retry": {"post": {
                "summary": "Run a failed or cancelled job again from the start (409 otherwise)",
                "parameters": [_JOB_ID],
                "responses": {"200": _json("Job", "The job, queued again"), "404": _ERROR,
                              "409": _ERROR, "429": _ERROR, "503": _ERROR}}},
            "/api/v1/jobs/{id}/output": {"get": {
                "summary": "Download the upscaled image or video", "parameters": [_JOB_ID],
                "responses": {"200": {"description": "The file (Range requests answered "
                                                     "with 206)"}, "404": _ERROR}}},
            **TRAINING_PATHS,
            "/api/v1/models": {"get": {
                "summary": "Models you can use", "responses": {"200": {
                    "description": "Models", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"models": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Model"}}}}}}}}}},
        },
    }
