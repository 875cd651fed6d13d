"""URLs of the member portal: /portal/<organization slug>/…"""

from django.urls import path

from fidelo.web.portal import views

app_name = "portal"

urlpatterns = [
    path("<slug:org>/", views.home_view, name="home"),
    path("<slug:org>/signin/", views.signin_view, name="signin"),
    path("<slug:org>/signin/code/", views.signin_code_view, name="signin_code"),
    path("<slug:org>/signin/link/<str:token>/", views.signin_link_view, name="signin_link"),
    path("<slug:org>/signout/", views.signout_view, name="signout"),
    path("<slug:org>/language/", views.language_view, name="language"),
    path("<slug:org>/rewards/", views.catalog_view, name="catalog"),
    path("<slug:org>/rewards/<int:reward_id>/", views.redeem_view, name="redeem"),
    path("<slug:org>/offers/<slug:campaign>/<int:reward_id>/", views.offer_redeem_view, name="offer_redeem"),
    path("<slug:org>/vouchers/", views.vouchers_view, name="vouchers"),
    path("<slug:org>/vouchers/<str:code>/", views.voucher_view, name="voucher"),
    path("<slug:org>/vouchers/<str:code>/cancel/", views.voucher_cancel_view, name="voucher_cancel"),
    path("<slug:org>/transfer/", views.transfer_view, name="transfer"),
    path("<slug:org>/auto-redemption/", views.auto_view, name="auto"),
]
