"""Routes of the campaigns API, included under /api/v1/."""

from django.urls import path

from campaigns import apis

urlpatterns = [
    path("events", apis.EventBatchApi.as_view(), name="api-events"),
    path("segments", apis.SegmentListCreateApi.as_view(), name="api-segments"),
    path("segments/preview", apis.SegmentPreviewApi.as_view(), name="api-segment-preview"),
    path("segments/<int:segment_id>", apis.SegmentDetailApi.as_view(), name="api-segment"),
    path("segments/<int:segment_id>/count", apis.SegmentCountApi.as_view(), name="api-segment-count"),
    path("campaigns", apis.CampaignListCreateApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>", apis.CampaignDetailApi.as_view(), name="api-campaign"),
    path("campaigns/<int:campaign_id>/submit", apis.CampaignSubmitApi.as_view(), name="api-campaign-submit"),
    path("campaigns/<int:campaign_id>/approve", apis.CampaignApproveApi.as_view(), name="api-campaign-approve"),
    path("campaigns/<int:campaign_id>/reject", apis.CampaignRejectApi.as_view(), name="api-campaign-reject"),
    path("campaigns/<int:campaign_id>/pause", apis.CampaignPauseApi.as_view(), name="api-campaign-pause"),
    path("campaigns/<int:campaign_id>/resume", apis.CampaignResumeApi.as_view(), name="api-campaign-resume"),
    path("campaigns/<int:campaign_id>/cancel", apis.CampaignCancelApi.as_view(), name="api-campaign-cancel"),
    path("campaigns/<int:campaign_id>/report", apis.CampaignReportApi.as_view(), name="api-campaign-report"),
    path("campaigns/<int:campaign_id>/results", apis.CampaignResultsApi.as_view(), name="api-campaign-results"),
    path("campaigns/<int:campaign_id>/follow-ups", apis.CampaignFollowUpsApi.as_view(), name="api-campaign-follow-ups"),
    path("campaigns/<int:campaign_id>/dry-run", apis.CampaignDryRunApi.as_view(), name="api-campaign-dry-run"),
    path("contacts/<int:contact_id>/messages", apis.ContactMessagesApi.as_view(), name="api-contact-messages"),
]
